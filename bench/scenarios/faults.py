"""Faults: worker and Redis faults on a proven mixed workload. The code is the :mod:`bench.faults` package (arming
and premise, fault kinds, outcome classification); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.estimate import START_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario


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


#: How it is measured, for the report's Method section (``{key}``: the run's preset value of that key).
METHOD = (
    "Run once per backend, in the profiles shipped (library defaults) and safe (each library's documented "
    "at-least-once settings; the harness also sets SHOP_FAST_FAULTS=1, which shortens visibility/heartbeat "
    "timeouts by configuration, never by patching a library), with {default_processes} worker processes. "
    "Before each fault the harness enqueues a mixed workload: {retry_tasks} `flaky_retry` tasks that failed "
    "once and wait for their 1 s retry (retrying), {retry_tasks} noops scheduled 5 s ahead with the library's "
    "delayed-execution API (delayed), one {long_task_s:g} s task per worker process (running), and "
    "{queued_tasks} short tasks queued or prefetched behind them (queued). `sigkill`: SIGKILL of the whole "
    "worker process tree (a crash or an OOM kill of the container) once every long task has started; "
    "`sigterm`: SIGTERM to the worker's main process only (as systemd, Docker or Kubernetes stop it), waiting "
    "up to the long task's duration + 30 s for it to exit; then the workers are started again. `redis_restart`: "
    "the private Redis is stopped for {redis_down_s:g} s and started again, without persistence and with AOF "
    "(appendfsync everysec); the harness then enqueues a noop every 0.5 s until one completes (reconnect time); "
    "workers that have not recovered within 60 s are restarted by hand and that is recorded. `redis_crash`: the "
    "same with SIGKILL instead of a clean stop, AOF everysec (up to a second of writes not yet on disk). After "
    "each fault "
    "the channel is watched for {fault_window_s:g} s (or until every task finished). Results files of the current "
    "harness check the fault's premise first (every worker process inside a gated task, the waiting tasks "
    "still in the broker — the state of each category at the fault instant is recorded; a fault whose premise "
    "did not hold is recorded as such and never ranked) and classify every task id, asking the library where it "
    "is: completed once, duplicated (completed more than once), stranded (still held by the library — unacked, "
    "reserved by a dead worker, scheduled — with when and by which setting it would be handed back), failed "
    "(recorded as failed by the library itself) or gone (held nowhere). With library defaults, stranded tasks "
    "due within the preset's eventual window ({eventual_window_s:g} s; 0 = not watched) are watched that much "
    "longer. Older results files only say whether a task finished within the window ('not finished, not "
    "classified'). Outcomes are reported per fault and profile, never summed. `long_delay`: {retry_tasks} noops "
    "scheduled {long_delay_s:g} s ahead (past the safe profile's shortened redelivery timeout), nothing faulted, "
    "watched for that delay plus the fault window: how many ran once, more than once, or early. `transaction` "
    "(backends with a database): the producer enqueues inside a transaction — directly, or through "
    "`transaction.on_commit` — holds it open 1 s, then commits or rolls back; the task's attempts are read from "
    "the channel for 5 s (ran before the commit, ran for a rolled-back row, raised, succeeded). "
    "`redis_down_enqueue`: with Redis stopped, one enqueue call with the library's API and one shop `submit()` "
    "(what a view does), each in a thread with a {down_enqueue_timeout_s:g} s limit: the exception, how long it "
    "took, or that it blocked."
)


SCENARIO = Scenario(
    name="faults",
    description="worker SIGKILL and SIGTERM with every worker process inside a gated task, Redis restart (no "
    "persistence / AOF) and crash, Redis down at enqueue: the premise proven at the fault instant, then every task "
    "completed, duplicated, stranded (held where the library would still run it, and when), failed or gone",
    run=run,
    estimate=estimate_s,
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
    method=METHOD,
    section="bench.report.sections.faults",
    required_tasks=frozenset({"sleep", "flaky_retry", "noop"}),
    fault=True,
)
