"""Retries: flaky tasks with the shop's retry policy and with library defaults. The code is in
:mod:`bench.faults.retries` (it shares the fault scenarios' channel accounting); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario


def run(session: ScenarioSession) -> None:
    """Flaky tasks with the shop's retry policy and with library defaults (bench/faults/retries.py)."""
    faults.run_retries(session)


SCENARIO = Scenario(
    name="retries",
    description="flaky tasks failing k times / forever, with the shop's retry policy and with library defaults: "
    "attempts, gaps against the configured delay, exhaustion, and whether a pending retry survives restarts",
    run=run,
    preset_keys=("retry_tasks", "retry_window_s", "fault_profiles"),
    section="bench.report.sections.retries",
    required_tasks=frozenset({"flaky_retry", "flaky_default"}),
    fault=True,
)
