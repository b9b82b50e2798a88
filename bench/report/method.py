"""How each number of the report is measured: scenario → text, printed in the report's "Method" section.

The general text is here; each scenario's is the ``method`` of its unit in ``bench/scenarios/<name>.py``, beside the
code it describes: keep it true when the measurement changes (they are data, not prose buried in a template).
``{name}`` placeholders are filled from the run's preset (``run.preset_params``) by :func:`method_for`, so the
method states this run's workload sizes. A scenario without an entry is shown with a note that its method is
undocumented.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from bench.scenarios import REGISTRY
from bench.scenarios.preset import preset_keys

_GENERAL: dict[str, str] = {
    "general": (
        "Every (backend, profile, scenario, parameters, repetition) is one record in the results file. A run is a "
        "list of sessions — one backend, one profile, one worker process count, one repetition — in an order "
        "shuffled with a recorded seed, so that drift on the machine does not favour one backend. Each session "
        "starts from a flushed private redis-server on a free loopback port (a fresh one for the fault sessions, "
        "which stop and start it), runs the backend's real worker command line (listed under Settings), and only "
        "measures after verification: the shop's real work (invoice e-mail through a real SMTP sink, a CSV import, "
        "a sales report) checked on the backend's real workers; a backend that fails is shown as failed and never "
        "ranked. Then a warm-up of noop tasks, not recorded. Task start/finish times come from the task side through "
        "the measurement channel (one O_APPEND file per worker process, CLOCK_MONOTONIC ns, so an event survives a "
        "SIGKILL and never touches the broker), never through a library's result API; producer times use the same "
        "clock. Latency histograms are HdrHistograms (1 ns .. 1 h, 3 significant digits) merged bucket-wise over "
        "repetitions, never averaged. Numbers over repetitions are medians with their min–max spread; differences "
        "are tested with a two-sided Welch t-test on the logarithms of the per-repetition values (p < 0.05), as "
        "pyperf does; with fewer than 3 repetitions the report says so instead of deciding. The pseudo-backend "
        "redis-baseline is a raw LPUSH/BRPOP producer and worker with the same channel: the floor of this broker on "
        "this machine, shown beside the backends and never ranked. A backend whose description names another floor "
        "(a database-backed queue's database floor) is measured against that one. Enqueue, throughput and latency "
        "figures are also given as ratios to the floor measured in the same run, repetition by repetition where the "
        "floor has the same repetition: absolute numbers move about 3x between machines, these ratios about 10 %."
    ),
}


#: scenario → how it is measured; ``general`` says what holds for every scenario. A scenario's own text is the
#: ``method`` of its unit (``bench/scenarios/<name>.py``).
METHOD: dict[str, str] = _GENERAL | {name: unit.method for name, unit in REGISTRY.items() if unit.method}


class _Preset(dict[str, Any]):
    """Preset values for the placeholders; a missing one reads as '?' instead of failing the report."""

    def __missing__(self, key: str) -> str:
        return "?"


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, list | tuple | dict) and not value:
            value = "none"
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        try:
            return super().format_field(value, format_spec)
        except (TypeError, ValueError):  # '?' for a missing number with a numeric format
            return str(value)


def method_for(scenario: str, preset: Mapping[str, Any]) -> str:
    """The method text of ``scenario`` with this run's preset values filled in."""
    text = METHOD.get(scenario)
    if text is None:
        return "No method description is recorded for this scenario."
    # A key added after a run was recorded reads as its declared default: the value that run measured with.
    defaults = {key.name: key.default for key in preset_keys() if not key.required}
    return _Formatter().vformat(text, (), _Preset({**defaults, **preset}))
