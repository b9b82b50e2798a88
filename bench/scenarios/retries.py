"""Retries: flaky tasks with the shop's retry policy and with library defaults. The code is in
:mod:`bench.faults.retries` (it shares the fault scenarios' channel accounting); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.estimate import START_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario


def run(session: ScenarioSession) -> None:
    """Flaky tasks with the shop's retry policy and with library defaults (bench/faults/retries.py)."""
    faults.run_retries(session)


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return START_S + preset.retry_window_s + 2.0


#: How it is measured, for the report's Method section (``{key}``: the run's preset value of that key).
METHOD = (
    "Run once per backend, in the profiles shipped and safe, with {default_processes} worker processes. "
    "{retry_tasks} tasks per variant: `flaky_retry` (the shop's policy, 3 retries 1 s apart, written natively "
    "per backend) and `flaky_default` (the library's defaults, no retry options), each failing twice then "
    "succeeding, and failing forever. The task counts its attempts in a file (O_APPEND, survives a SIGKILL); "
    "every attempt's start is a channel event. All variants are observed for {retry_window_s:g} s: "
    "attempts per task, gaps between consecutive attempts against the configured delay, whether the maximum is "
    "honoured. A retry scheduled later than the window is not seen. Then the library's own API is asked where "
    "the exhausted `flaky_retry` failures are recorded (result backend, dead-letter queue, failed-task table)."
)


SCENARIO = Scenario(
    name="retries",
    description="flaky tasks failing k times / forever, with the shop's retry policy and with library defaults: "
    "attempts, gaps against the configured delay, exhaustion, and whether a pending retry survives restarts",
    run=run,
    estimate=estimate_s,
    preset_keys=("retry_tasks", "retry_window_s", "fault_profiles"),
    method=METHOD,
    section="bench.report.sections.retries",
    required_tasks=frozenset({"flaky_retry", "flaky_default"}),
    fault=True,
)
