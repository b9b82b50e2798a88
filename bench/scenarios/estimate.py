"""Rough durations for the progress display's ETA (:mod:`bench.progress`): constants each scenario's ``estimate``
shares. Seconds on a 2-core machine, from the reference run's session durations; the run corrects them as it goes.
"""

from __future__ import annotations

from bench.scenarios.preset import Preset

START_S = 3.0  # producer process + worker start + readiness round trip
MICROBENCH_S = 8.0  # the pytest-benchmark subprocess
ENQUEUE_CALL_S = 0.0008  # one enqueue call
#: Worker time of one task on one process (an import costs per CSV row).
TASK_S = {"noop": 0.004, "send_invoice_email": 0.02, "build_sales_report": 0.1}
IMPORT_ROW_S = 0.001
SETTLE_S = 0.5  # drain polling and settling after each batch


def task_s(task: str, preset: Preset) -> float:
    """Worker time of one ``task`` on one process."""
    return preset.import_rows * IMPORT_ROW_S if task == "import_products" else TASK_S.get(task, 0.01)
