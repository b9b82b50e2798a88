"""Every scenario, declared in one place each, and the :data:`REGISTRY` listing them in run and report order.

A declaration (:class:`~bench.scenarios.unit.Scenario`) says what a scenario measures, the preset keys it owns
(type, default, check: :class:`~bench.scenarios.keys.Key`), how it is measured, which reported figures it provides
(by name) and its report section; its run code (``bench/scenarios/<name>.py``) is named
by module path and imported only when a session runs it. This module imports no harness code: the report reads it.

Adding a scenario: its module (``run(session)``, ``estimate_s(preset, processes, tasks)``), a declaration here and
its line in :data:`REGISTRY`, and its keys' values in ``bench/presets.toml``; a report section module if the generic
table of its figures is not enough.
"""

from __future__ import annotations

from typing import Any

from bench.scenarios.keys import (
    FAULT_PROFILES,
    MIN_IDLE_PICKUP_SAMPLES,
    Key,
    each,
    flag,
    integer,
    non_negative,
    positive,
    subset,
    task_counts,
    tasks,
)
from bench.scenarios.unit import Scenario

_SOME_FAULT_PROFILES = "some of " + ", ".join(FAULT_PROFILES)


def _rates_increase(values: dict[str, Any]) -> str | None:
    rates = values["latency_rates"]
    return None if list(rates) == sorted(set(rates)) else "'latency_rates' must be strictly increasing"


def _enough_readings(values: dict[str, Any]) -> str | None:
    # The load readings of a window must be a sample, not one reading.
    interval, steady = values["resource_interval_s"], values["throughput_steady_s"]
    if interval * 5 > steady:
        return f"resource_interval_s ({interval:g}) must give >= 5 readings in throughput_steady_s"
    return None


def _retry_window_fits(values: dict[str, Any]) -> str | None:
    # The policy's 3 retries 1 s apart need > 3 s; less could not tell a missing retry from a slow one.
    if values["retry_window_s"] < 5:
        return "retry_window_s must be >= 5 s to observe 3 retries 1 s apart"
    return None


ENQUEUE = Scenario(
    name="enqueue",
    description=(
        "producer-side cost of one enqueue call per task type (no workers running); HDR histogram + pytest-benchmark"
    ),
    run_at="bench.scenarios.enqueue:run",
    estimate_at="bench.scenarios.enqueue:estimate_s",
    keys=(
        Key("enqueue_tasks", tasks, "task types whose enqueue call is timed", tuple),
        Key("enqueue_count", integer(), "timed enqueue calls per task type (one HDR histogram each)", int),
        Key("microbench", flag, "also a pytest-benchmark run of the noop enqueue (its JSON kept)", bool, False),
    ),
    section="bench.report.sections.enqueue",
    figures=("enqueue_p50", "enqueue_p99", "microbench_median"),
    also_records=("enqueue_microbench",),
    method=(
        "Producer-side cost of one enqueue call with the library's own API (`.delay()`, `.send()`, calling the Huey "
        "task, `async_task`), in one warm producer process with the backend's Django settings, as a web process "
        "would call it. No worker runs meanwhile, so nothing competes with the producer; the queue is flushed "
        "afterwards. {enqueue_count} calls per task type ({enqueue_tasks}) with realistic arguments (an existing "
        "order, a stored CSV import, a report period), after 100 untimed calls; each call timed alone with "
        "perf_counter_ns into an HDR histogram. A pytest-benchmark run of the noop enqueue (GC disabled, at least "
        "200 rounds, JSON kept beside the results) cross-checks the numbers. The redis-baseline row is one raw "
        "LPUSH."
    ),
)


THROUGHPUT = Scenario(
    name="throughput",
    description=(
        "tasks/s the backend confirmed done over a steady window of fixed length (warm-up excluded): a "
        "noop backlog sized to last it, drained at every worker process count, and each shop task produced while "
        "workers consume; body-finish rate and the finish-to-confirmed lag beside it"
    ),
    run_at="bench.scenarios.throughput:run",
    estimate_at="bench.scenarios.throughput:estimate_s",
    keys=(
        Key("throughput_warmup_s", non_negative, "left out of every window after its first completion", float),
        Key("throughput_steady_s", positive, "shortest steady window of a throughput figure", float),
        Key("max_window_tasks", integer(100), "cap of the task count a window is sized to", int),
        Key("concurrent_tasks", task_counts, "shop tasks measured while workers consume = calibration tasks", dict, {}),
        Key("import_rows", integer(), "rows per CSV of the import tasks", int),
    ),
    reads=("processes", "default_processes", "resource_interval_s", "drain_timeout_s"),
    section="bench.report.sections.throughput",
    figures=("tasks_per_s",),
    per_process_count=True,
    method=(
        "Tasks per second the backend confirmed done (its own completion hook: the `C` channel event; `F`, the body "
        "returning, only for a backend that has none — the record's `completion` says which), over a steady window "
        "measured in time: it starts {throughput_warmup_s:g} s after the first completion (warm-up left out) and ends "
        "before the ragged tail where fewer tasks than worker processes remained; it must last at least "
        "{throughput_steady_s:g} s, else the record is `too_short` and not ranked. The task count is sized per backend "
        "from a rate measured earlier in the run (x 1.5; x 2.5 when that rate was the warm-up's and the workers kept "
        "up with the producer, so it only bounds their rate from below; at most {max_window_tasks} tasks); a window "
        "that still came out short is measured again, sized from its own rate (or the estimate, if higher) x 1.5 and "
        "at least 1.25x bigger (at most 3 attempts, the last one recorded; each record keeps the rate and margin that "
        "sized it). `backlog`: the "
        "noop tasks are enqueued while no worker runs, then the workers start and drain the queue, at every worker "
        "process count {processes}. `concurrent`: workers are running and the producer enqueues each shop task as "
        "fast as it can while they consume, at {default_processes} processes (the shop tasks this preset measures, "
        "with the calibration tasks that first estimate each one's rate: {concurrent_tasks}). Beside the confirmed "
        "rate: the body-finish rate, the finish-to-confirmed lag, and the rates of the window's 10 equal parts (its "
        "spread). A task not done within {drain_timeout_s:g} s fails the record. The floor rows are a raw loop on the "
        "same broker (Redis LPUSH/BRPOP, or the database's INSERT / SELECT … FOR UPDATE SKIP LOCKED / DELETE) with the "
        "same channel."
    ),
)


DB_STATEMENTS = Scenario(
    name="db_statements",
    description=(
        "database statements, write commits and new connections per noop task, per Django backend and "
        "profile (a counting pass after the sessions, on a PostgreSQL cluster logging every statement)"
    ),
    run_at=None,
    reads=("default_processes",),
    section="bench.report.sections.db_statements",
    figures=("db_statements", "db_write_commits"),
    in_session=False,
    method=(
        "Counted once per Django backend and profile after the performance sessions, whenever the run has the "
        "throughput scenario: the backend's real workers ({default_processes} processes) on a private PostgreSQL "
        "cluster of their own that logs every statement and connection (log_statement=all, log_connections=on), "
        "producer and workers told apart by their libpq application_name. 20 noops warm up, then 100 noop tasks are "
        "enqueued and drained (to the backend's own done, then 2 s for late writers); every statement, BEGIN/COMMIT "
        "and new connection in that window is counted per task, minus an idle window of the same length (pollers, "
        "heartbeats). A write commit is a committed INSERT/UPDATE/DELETE, inside a transaction or on its own "
        "(autocommit). Counts, not timings: the log costs time itself, so none of the run's timings come from this "
        "cluster. A profile a backend declares the same configuration as another is counted once."
    ),
)


LATENCY = Scenario(
    name="latency",
    description=(
        "open-loop noop producer at fixed offered rates; latency from the intended send time "
        "(coordinated omission corrected) to task start, finish and confirmed completion"
    ),
    run_at="bench.scenarios.latency:run",
    estimate_at="bench.scenarios.latency:estimate_s",
    keys=(
        Key("latency_rates", each(integer()), "offered rates (tasks/s) of the open-loop producer, increasing", tuple),
        Key("latency_duration_s", positive, "how long each rate is offered", float),
        Key("latency_bound_ms", positive, "p99 to-start bound that defines the maximum sustainable rate", float),
    ),
    reads=("default_processes", "drain_timeout_s"),
    checks=(_rates_increase,),
    section="bench.report.sections.latency",
    figures=("sustainable_rate", "to_start_p50", "to_start_p99", "to_finish_p99", "achieved_rate"),
    method=(
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
        "skipped after the first rate that is saturated, lost tasks or had p99 to start above 20 × the bound (none of "
        "them can change the maximum sustainable rate); the record of that rate says which."
    ),
)


IDLE_PICKUP = Scenario(
    name="idle_pickup",
    description="latency of single tasks after the queue has been idle (a sample list per idle period)",
    run_at="bench.scenarios.idle_pickup:run",
    estimate_at="bench.scenarios.idle_pickup:estimate_s",
    keys=(
        Key("idle_pickup_s", each(positive), "idle periods before each single task", tuple),
        Key("idle_pickup_samples", integer(MIN_IDLE_PICKUP_SAMPLES), "single tasks timed per idle period", int),
    ),
    reads=("default_processes",),
    section="bench.report.sections.idle_pickup",
    figures=("idle_pickup",),
    method=(
        "With {default_processes} worker processes running and no task for {idle_pickup_s} s, one noop task is "
        "enqueued; latency from just before the enqueue call to the task start. Shows polling intervals and "
        "back-off of idle workers."
    ),
)


RESOURCES = Scenario(
    name="resources",
    description=(
        "RSS/PSS of all worker processes idle and under load (sampled on a fixed grid), CPU seconds per 1,000 tasks"
    ),
    run_at=None,
    keys=(Key("resource_interval_s", positive, "the worker tree's memory is sampled this often", float),),
    checks=(_enough_readings,),
    section="bench.report.sections.resources",
    figures=("rss_idle", "rss_load", "cpu_per_1000"),
    per_process_count=True,
    method=(
        "During the noop backlog drain: the peak RSS and PSS of the whole worker process tree (sampled every "
        "{resource_interval_s:g} s on a fixed grid), the same 1 s after the drain (idle), and the tree's CPU seconds "
        "(user + system) during the drain per 1,000 tasks. PSS divides pages shared by forked processes among them, so "
        "it is the fairer number for prefork pools."
    ),
)


CHANNEL_OVERHEAD = Scenario(
    name="channel_overhead",
    description="cost of the measurement channel itself (ns per event written)",
    run_at="bench.scenarios.channel_overhead:run",
    estimate_at="bench.scenarios.channel_overhead:estimate_s",
    keys=(
        # Runs before the quick preset had the key wrote 20,000.
        Key("channel_events", integer(100), "event writes timed one by one (p99 = the 1 % slowest)", int, 20_000),
    ),
    section="bench.report.sections.channel_overhead",
    figures=("channel_write_p50",),
    method=(
        "The cost of the measurement channel itself: {channel_events:,} event writes timed one by one "
        "(perf_counter_ns) in a process with the backend's environment, the same code path the tasks use. Every task "
        "writes two events (start and finish); the report relates that to the time a worker process spends per noop "
        "task at the measured backlog throughput, so its share of every other number can be judged."
    ),
)


RETRIES = Scenario(
    name="retries",
    description=(
        "flaky tasks failing k times / forever, with the shop's retry policy and with library defaults: "
        "attempts, gaps against the configured delay, exhaustion, and whether a pending retry survives restarts"
    ),
    run_at="bench.scenarios.retries:run",
    estimate_at="bench.scenarios.retries:estimate_s",
    keys=(
        Key("retry_tasks", integer(), "tasks per retry variant (and per delayed category of the fault workload)", int),
        Key("retry_window_s", positive, "how long the retry variants are watched", float),
        Key("fault_profiles", subset(FAULT_PROFILES, _SOME_FAULT_PROFILES), "profiles of the fault scenarios", tuple),
    ),
    reads=("default_processes",),
    checks=(_retry_window_fits,),
    section="bench.report.sections.retries",
    figures=("retry_gap_error",),
    required_tasks=frozenset({"flaky_retry", "flaky_default"}),
    fault=True,
    method=(
        "Run once per backend, in the profiles shipped and safe, with {default_processes} worker processes. "
        "{retry_tasks} tasks per variant: `flaky_retry` (the shop's policy, 3 retries 1 s apart, written natively "
        "per backend) and `flaky_default` (the library's defaults, no retry options), each failing twice then "
        "succeeding, and failing forever. The task counts its attempts in a file (O_APPEND, survives a SIGKILL); "
        "every attempt's start is a channel event. All variants are observed for {retry_window_s:g} s: "
        "attempts per task, gaps between consecutive attempts against the configured delay, whether the maximum is "
        "honoured. A retry scheduled later than the window is not seen. Then the library's own API is asked where "
        "the exhausted `flaky_retry` failures are recorded (result backend, dead-letter queue, failed-task table)."
    ),
)


FAULTS = Scenario(
    name="faults",
    description=(
        "worker SIGKILL and SIGTERM with every worker process inside a gated task, Redis restart (no "
        "persistence / AOF) and crash, Redis down at enqueue: the premise proven at the fault instant, then every task "
        "completed, duplicated, stranded (held where the library would still run it, and when), failed or gone"
    ),
    run_at="bench.scenarios.faults:run",
    estimate_at="bench.scenarios.faults:estimate_s",
    keys=(
        Key("fault_window_s", positive, "how long after a fault the harness waits for the tasks", float),
        Key("long_task_s", positive, "how long the gated (interrupted) tasks still run after the signal", float),
        Key("queued_tasks", integer(), "short tasks queued or prefetched behind the gated ones", int),
        Key("redis_persistence", subset(("none", "aof"), "'none' and/or 'aof'"), "Redis restarted with", tuple),
        Key("redis_down_s", positive, "how long Redis stays down in the restart fault", float),
        Key("redis_crash", flag, "also a Redis crash (SIGKILL) with AOF everysec", bool),
        Key("down_enqueue_timeout_s", positive, "Redis down: an enqueue blocked this long blocks", float),
        Key("eventual_window_s", non_negative, "shipped: stranded tasks due this soon are watched", float, 0.0),
        Key("long_delay_s", non_negative, "tasks scheduled this far ahead: do they run once? (0: not measured)", float),
    ),
    reads=("default_processes", "retry_tasks", "fault_profiles"),
    section="bench.report.sections.faults",
    figures=("faults_lost", "faults_gone", "faults_stranded", "faults_duplicated"),
    required_tasks=frozenset({"sleep", "flaky_retry", "noop"}),
    fault=True,
    method=(
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
        "same with SIGKILL instead of a clean stop, AOF everysec (up to a second of writes not yet on disk). A "
        "backend on RabbitMQ has a private node of its own instead: `rabbitmq_restart` stops it cleanly, keeps it "
        "down {redis_down_s:g} s and starts it again (durable queues and persistent messages are both libraries' "
        "defaults there), `rabbitmq_crash` (with `redis_crash`) SIGKILLs the Erlang VM; `publish_during_restart` "
        "enqueues a noop every 50 ms from 1 s before the node stops until 1 s after it is back and accounts for "
        "every call that returned (a returned call whose task is gone was lost silently; safe waits for publisher "
        "confirms, shipped does not). After each fault "
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
        "scheduled {long_delay_s:g} s ahead (past the safe profile's shortened redelivery timeout; on RabbitMQ the "
        "safe session's node has consumer_timeout shortened to 10 s for it, 30 min by default; there a `long_task` "
        "runs 15 s, past that timeout, with its message unacknowledged: does it run again?), nothing faulted, "
        "watched for that delay plus the fault window: how many ran once, more than once, or early. `transaction` "
        "(backends with a database): the producer enqueues inside a transaction — directly, or through "
        "`transaction.on_commit` — holds it open 1 s, then commits or rolls back; the task's attempts are read from "
        "the channel for 5 s (ran before the commit, ran for a rolled-back row, raised, succeeded). "
        "`redis_down_enqueue` (`rabbitmq_down_enqueue`): with the broker stopped, one enqueue call with the "
        "library's API and one shop `submit()` "
        "(what a view does), each in a thread with a {down_enqueue_timeout_s:g} s limit: the exception, how long it "
        "took, or that it blocked."
    ),
)


ROUND_TRIPS = Scenario(
    name="round_trips",
    description="round trips (request→response turns) per enqueue and per task to Redis, PostgreSQL and RabbitMQ, "
    "counted by the delay proxy (proxied networks only)",
    run_at="bench.scenarios.round_trips:run",
    estimate_at="bench.scenarios.round_trips:estimate_s",
    reads=("default_processes",),
    section="bench.report.sections.network",
    proxied_only=True,
    # The counts below are bench.scenarios.round_trips.TASKS and IDLE_S (tests/test_registry.py checks them).
    method=(
        "Only through the delay proxy, which counts request→response turns per connection. 100 noops are enqueued "
        "with the workers stopped (turns per enqueue), the idle workers' background turns are counted for 2 s, "
        "then 100 noops are enqueued and drained with the workers running: turns per task = that phase's turns − "
        "the enqueues' − the idle rate × the phase's duration (the raw figure is kept beside it)."
    ),
)


IO_BOUND = Scenario(
    name="io_bound",
    description="IO-bound throughput: send_invoice_email tasks/s with the SMTP hop at the network's delay "
    "(lan: 40 ms), worker RSS per task in flight and the measured SMTP round trip; proxied networks only",
    run_at="bench.scenarios.io_bound:run",
    estimate_at="bench.scenarios.io_bound:estimate_s",
    reads=(
        "default_processes",
        "throughput_warmup_s",
        "throughput_steady_s",
        "max_window_tasks",
        "resource_interval_s",
        "drain_timeout_s",
    ),
    section="bench.report.sections.io_bound",
    required_tasks=frozenset({"send_invoice_email"}),
    proxied_only=True,
    # 64 = bench.scenarios.io_bound.CALIBRATION_TASKS, 25 % = bench.network.RTT_TOLERANCE (tests/test_registry.py).
    method=(
        "`send_invoice_email` (render, send over SMTP, mark the order) confirmed done per second while its SMTP hop "
        "is a delayed round trip through the proxy (the network's SMTP RTT), at {default_processes} worker "
        "processes: 64 tasks estimate the rate, then a window sized to last {throughput_warmup_s:g} s of warm-up + "
        "{throughput_steady_s:g} s is produced while the workers consume, as the throughput scenario's shop tasks. "
        "The worker tree's RSS is sampled every {resource_interval_s:g} s meanwhile; the tasks in flight are counted "
        "from the channel (the most attempts between S and F at once), and RSS per task in flight is the RSS p50 over "
        "that peak (PSS likewise: RSS counts the pages forked workers share in each of them). The record carries the "
        "SMTP round trip measured in the session (a raw `NOOP` loop through the proxy and direct); an added round "
        "trip off the nominal one by more than 25% is `premise_not_met`. Compare the `io` profile (threads, or more "
        "processes) with `shipped` (one task per process)."
    ),
)


#: Every scenario, in the order a session runs them and the report shows them.
REGISTRY: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        ENQUEUE,
        THROUGHPUT,
        DB_STATEMENTS,
        LATENCY,
        IDLE_PICKUP,
        RESOURCES,
        CHANNEL_OVERHEAD,
        ROUND_TRIPS,
        IO_BOUND,
        RETRIES,
        FAULTS,
    )
}
