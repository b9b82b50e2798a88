"""How each number of the report is measured: scenario → text, printed in the report's "Method" section.

The harness owner keeps these texts true when the measurement changes (they are data, not prose buried in a
template). A scenario without an entry is shown with a note that its method is undocumented.
"""

from __future__ import annotations

METHOD: dict[str, str] = {
    "general": (
        "Every (backend, profile, scenario, parameters, repetition) is one record in the results file; run order is "
        "shuffled. Each backend starts from a private redis-server on a free loopback port, its real worker command "
        "line, and must pass the shop's verification (real SMTP mail, imported rows, report files) before anything "
        "is measured: a backend that fails is shown as failed and never ranked. Task start/finish times come from "
        "the task side through the measurement channel (one O_APPEND file per process, CLOCK_MONOTONIC ns), never "
        "through a library's result API. Latency histograms are HdrHistograms (1 ns .. 1 h, 3 significant digits) "
        "merged bucket-wise over repetitions, never averaged. Numbers over repetitions are medians with their "
        "min–max spread; differences are tested with a two-sided Welch t-test on the logarithms of the "
        "per-repetition values (p < 0.05), as pyperf does."
    ),
    "enqueue": (
        "Producer-side cost of one enqueue call (`.delay()`, `.send()`, calling the Huey task, `async_task`) with "
        "the shop's realistic arguments, timed alone around the library call into an HDR histogram; no worker runs, "
        "so nothing competes with the producer. The redis-baseline row is one raw LPUSH of a comparable payload."
    ),
    "throughput": (
        "Tasks per second from task-side timestamps: number of finished tasks divided by the time between the first "
        "task start and the last task finish. `backlog`: the queue is filled first, then the workers are started and "
        "drain it; `concurrent`: production runs while workers consume. Worker process counts are the preset's. "
        "The redis-baseline row is a raw LPUSH/BRPOP loop with the same channel: the floor of this broker here."
    ),
    "latency": (
        "An open-loop producer sends at a fixed offered rate; each task carries its intended send time, and latency "
        "is measured from that intended time (not the actual send) to the task's start and finish, so a backend "
        "that slows the producer cannot hide its queueing (coordinated omission corrected). A rate is saturated "
        "when the achieved rate falls below 90 % of the offered one, a task is lost, or p99 to-start exceeds the "
        "bound; the maximum sustainable rate is the highest offered rate below the first saturated one."
    ),
    "idle_pickup": (
        "A single task enqueued after the queue has been idle for `idle_s` seconds; latency from the enqueue call to "
        "the task start. Shows polling intervals and back-off of idle workers."
    ),
    "resources": (
        "Resident set size of all worker processes together (the whole process tree), idle and during a noop "
        "backlog, and CPU seconds (user + system) of the tree per 1,000 tasks drained."
    ),
    "channel_overhead": (
        "The cost of the measurement channel itself: the time to write one event, and noop throughput with the "
        "channel on and off, so its share of every other number can be judged."
    ),
    "retries": (
        "The flaky task fails `fail_times` times then succeeds (or fails forever with -1). Every attempt's start "
        "time is recorded by the task side; gaps between attempts are compared with the configured delay. "
        "`flaky_retry` uses the shop's policy (3 retries, 1 s apart) written natively per backend; `flaky_default` "
        "uses the library's defaults with no options."
    ),
    "faults": (
        "Each task id enqueued in a fault scenario ends as completed once, completed more than once (duplicated), "
        "or lost, counted from the channel's start/finish events. `sigkill`/`sigterm`: the worker tree is "
        "signalled while a long task runs and more are reserved; `redis_restart`: the private Redis is stopped and "
        "started with queued, running and scheduled tasks; `redis_down_enqueue`: the producer call is made while "
        "Redis is down, and what it does (exception, time blocked) is recorded."
    ),
}
