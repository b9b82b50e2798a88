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


def test_a_toy_scenario_appears_in_the_report_with_its_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module, a registry entry and preset values are all a scenario needs to be loaded, planned and reported."""
    import tomllib
    from dataclasses import replace

    from bench.report import figures, write_report
    from bench.results import Record, load_results
    from bench.scenarios import registry
    from bench.scenarios.preset import PRESETS_FILE, parse_preset
    from tests.fixtures import toy_scenario

    monkeypatch.setitem(registry.REGISTRY, "toy", toy_scenario.SCENARIO)
    monkeypatch.setitem(figures.FIGURES, "toy_items", toy_scenario.FIGURE)
    table = tomllib.loads(PRESETS_FILE.read_text())["smoke"] | toy_scenario.PRESET_VALUES
    assert parse_preset("smoke", table, registry.REGISTRY).toy_items == 3
    assert registry.REGISTRY["toy"].run is toy_scenario.run
    base = load_results(REPO / "tests" / "fixtures" / "results-small.json")
    toy = Record.from_dict(
        {"backend": "huey", "profile": "shipped", "scenario": "toy", "params": {}, "repetition": 0, "status": "ok",
         "values": {"toy_count": 7}}
    )  # fmt: skip
    md, _ = write_report(replace(base, records=(*base.records, toy)), tmp_path)
    text = md.read_text()
    assert "Scenario toy" in text and "toy items per task" in text and "| 7 |" in text


@pytest.mark.unit
def test_method_texts_state_the_run_modules_constants() -> None:
    """The declarations' method texts (which import no harness code) say the counts the run modules use."""
    from bench.network import RTT_TOLERANCE
    from bench.scenarios import io_bound, round_trips
    from bench.scenarios.registry import IO_BOUND, ROUND_TRIPS

    assert f"{round_trips.TASKS} noops" in ROUND_TRIPS.method and f"for {round_trips.IDLE_S:g} s" in ROUND_TRIPS.method
    assert f"{io_bound.CALIBRATION_TASKS} tasks" in IO_BOUND.method and f"{RTT_TOLERANCE:.0%}" in IO_BOUND.method
