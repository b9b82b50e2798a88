"""The scenario registry and the report's independence from the harness: declarations only, run code imported late."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent

#: Modules the report must never import: the harness, its services, Django (a report is a function of a file).
HARNESS = ("bench.services", "bench.runner", "bench.agent", "bench.producer", "bench.faults", "django")


def _imported_by(statement: str) -> list[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("statement", ["import bench.report", "import bench.scenarios"])
def test_the_report_and_the_declarations_import_no_harness(statement: str) -> None:
    loaded = _imported_by(statement)
    harness = [m for m in loaded if m.startswith(HARNESS)]
    scenario_code = [m for m in loaded if m.startswith("bench.scenarios.") and m.rsplit(".", 1)[1] not in
                     ("keys", "preset", "registry", "unit")]  # fmt: skip
    assert not harness, f"{statement} imports {harness}"
    assert not scenario_code, f"{statement} imports scenario run code {scenario_code}"
