"""Faults: worker and Redis faults on a proven mixed workload. The code is the :mod:`bench.faults` package (arming
and premise, fault kinds, outcome classification); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario


def run(session: ScenarioSession) -> None:
    """Worker and Redis faults on a proven mixed workload (bench/faults/kinds.py)."""
    faults.run_faults(session)


SCENARIO = Scenario(
    name="faults",
    description="worker SIGKILL and SIGTERM with every worker process inside a gated task, Redis restart (no "
    "persistence / AOF) and crash, Redis down at enqueue: the premise proven at the fault instant, then every task "
    "completed, duplicated, stranded (held where the library would still run it, and when), failed or gone",
    run=run,
    preset_keys=(
        "retry_tasks",
        "fault_window_s",
        "long_task_s",
        "queued_tasks",
        "redis_persistence",
        "redis_down_s",
        "redis_crash",
        "down_enqueue_timeout_s",
        "fault_profiles",
        "eventual_window_s",
        "long_delay_s",
    ),
    section="bench.report.sections.faults",
    required_tasks=frozenset({"sleep", "flaky_retry", "noop"}),
    fault=True,
)
