"""Faults: worker and Redis faults on a proven mixed workload. The code is the :mod:`bench.faults` package (arming
and premise, fault kinds, outcome classification); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.estimate import START_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession


def run(session: ScenarioSession) -> None:
    """Worker and Redis faults on a proven mixed workload (bench/faults/kinds.py)."""
    faults.run_faults(session)


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    arm = START_S + 4.0  # workers, the retrying tasks' first attempt, the gated tasks settling
    window = preset.fault_window_s
    worker_faults = 2 * (arm + preset.long_task_s + window)  # SIGKILL, SIGTERM
    redis_faults = (len(preset.redis_persistence) + int(preset.redis_crash)) * (
        arm + preset.redis_down_s + window + 2.0
    )
    long_delay = START_S + preset.long_delay_s + window if preset.long_delay_s else 0.0
    transactions = START_S + 4 * (1.0 + 5.0)  # bench/faults/transactions.py: hold 1 s, observe up to 5 s
    # Library defaults, eventually: a stranded task is watched up to the eventual window (about half of the faults
    # strand something on some backend).
    eventual = 0.5 * 2 * preset.eventual_window_s
    return worker_faults + redis_faults + long_delay + transactions + eventual + START_S + 5.0
