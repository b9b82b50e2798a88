"""How each number of the report is measured: scenario → text, printed in the report's "Method" section.

The texts follow what ``bench/scenarios/<name>.py`` and ``bench/faults/`` do; keep them true when the measurement
changes (they are data, not prose buried in a template). ``{name}`` placeholders are filled from the run's preset
(``run.preset_params``) by :func:`method_for`, so the method states this run's workload sizes. A scenario without an
entry is shown with a note that its method is undocumented.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

METHOD: dict[str, str] = {
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
    "enqueue": (
        "Producer-side cost of one enqueue call with the library's own API (`.delay()`, `.send()`, calling the Huey "
        "task, `async_task`), in one warm producer process with the backend's Django settings, as a web process "
        "would call it. No worker runs meanwhile, so nothing competes with the producer; the queue is flushed "
        "afterwards. {enqueue_count} calls per task type ({enqueue_tasks}) with realistic arguments (an existing "
        "order, a stored CSV import, a report period), after 100 untimed calls; each call timed alone with "
        "perf_counter_ns into an HDR histogram. A pytest-benchmark run of the noop enqueue (GC disabled, at least "
        "200 rounds, JSON kept beside the results) cross-checks the numbers. The redis-baseline row is one raw "
        "LPUSH."
    ),
    "throughput": (
        "Tasks per second from task-side timestamps: finished tasks divided by the time from the first task start "
        "to the last task finish (`steady_tasks_per_s` leaves out the first and last 10 % of completions). "
        "`backlog`: {backlog_tasks} noop tasks are enqueued while no worker runs, then the workers are started and "
        "drain the queue (worker start-up is not counted: the clock starts at the first task start). `concurrent`: "
        "workers are running and the producer enqueues each shop task ({concurrent_tasks}) as fast as it can while "
        "they consume. Worker process counts {processes}; a task not finished within {drain_timeout_s:g} s counts "
        "as lost and fails the record. The redis-baseline row is a raw LPUSH/BRPOP loop with the same channel."
    ),
    "latency": (
        "An open-loop producer sends noop tasks at each fixed offered rate ({latency_rates} tasks/s) for "
        "{latency_duration_s:g} s on a schedule fixed in advance, with {default_processes} worker processes "
        "running. Latency is measured from each task's intended send time (not the actual send) to its start and "
        "finish, so a backend that slows the producer cannot hide its queueing (coordinated omission corrected); "
        "the producer's worst lateness is recorded too. Each rate has a state: sustained (sent/s at least 90 % of the "
        "offered rate, completed/s at least 90 % of sent/s, p99 to start within {latency_bound_ms:g} ms, nothing "
        "lost); over the latency bound (completions kept up, p99 above the bound); saturated (the producer could not "
        "send on schedule, or completions fell behind the send rate); tasks lost. completed/s is the recorded "
        "completion rate, or where a record has none a lower bound: completions ÷ (intended send span + spread of "
        "the to-finish latencies). The maximum sustainable rate is the highest offered rate with every rate up to it "
        "sustained. The headline compares p99 to start with the floor's at the same rate. Higher rates are "
        "skipped once a rate is far beyond saturation (a lost task or p99 above 20 × the bound)."
    ),
    "idle_pickup": (
        "With {default_processes} worker processes running and no task for {idle_pickup_s} s, one noop task is "
        "enqueued; latency from just before the enqueue call to the task start. Shows polling intervals and "
        "back-off of idle workers."
    ),
    "resources": (
        "During the noop backlog drain: the peak RSS and PSS of the whole worker process tree (sampled every "
        "0.2 s), the same 1 s after the drain (idle), and the tree's CPU seconds (user + system) during the drain "
        "per 1,000 tasks. PSS divides pages shared by forked processes among them, so it is the fairer number for "
        "prefork pools."
    ),
    "channel_overhead": (
        "The cost of the measurement channel itself: 20,000 event writes timed one by one (perf_counter_ns) in a "
        "process with the backend's environment, the same code path the tasks use. Every task writes two events "
        "(start and finish); the report relates that to the time a worker process spends per noop task at the "
        "measured backlog throughput, so its share of every other number can be judged."
    ),
    "retries": (
        "Run once per backend, in the profiles shipped and safe, with {default_processes} worker processes. "
        "{retry_tasks} tasks per variant: `flaky_retry` (the shop's policy, 3 retries 1 s apart, written natively "
        "per backend) and `flaky_default` (the library's defaults, no retry options), each failing twice then "
        "succeeding, and failing forever. The task counts its attempts in a file (O_APPEND, survives a SIGKILL); "
        "every attempt's start is a channel event. All variants are observed for {retry_window_s:g} s: "
        "attempts per task, gaps between consecutive attempts against the configured delay, whether the maximum is "
        "honoured. A retry scheduled later than the window is not seen. Then the library's own API is asked where "
        "the exhausted `flaky_retry` failures are recorded (result backend, dead-letter queue, failed-task table)."
    ),
    "faults": (
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
    ),
}


class _Preset(dict[str, Any]):
    """Preset values for the placeholders; a missing one reads as '?' instead of failing the report."""

    def __missing__(self, key: str) -> str:
        return "?"


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, list | tuple):
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
    return _Formatter().vformat(text, (), _Preset(preset))
