"""Throughput: tasks/s the backend confirmed done over a steady window of at least ``throughput_steady_s``.

A noop backlog filled with no consumer and drained (at every worker process count; the worker tree's resources are
sampled meanwhile for :mod:`bench.scenarios.resources`), then each shop task produced while the workers consume (at
the default process count). Every window is sized from a measured rate to last warm-up + steady window; one that came
out short is measured again, bigger.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from typing import Any

from bench import completion
from bench.scenarios import resources
from bench.scenarios.estimate import SETTLE_S, START_S, task_s
from bench.scenarios.preset import Preset
from bench.scenarios.session import RateKey, ScenarioSession
from bench.services import usage

#: A throughput window is sized to last warm-up + steady window x this, so that a low estimate still fills it; a
#: retry (the window came out short) is sized the same way from the short window's own measured rate.
WINDOW_MARGIN = 1.5
#: The first window's margin when its estimate is only a lower bound (:func:`warm_rate_is_lower_bound`): the
#: workers kept up with the producer in the warm-up, where the producer also took one of the machine's cores. The
#: Redis floor then drained 1.6-2.4x faster than its warm-up (2026-11-30: two throughput-only profiling runs, not
#: committed, and results/2026-11-30T04-02-30Z-fa4a211 and ...T04-15-46Z-dab98a1), so x 1.5 came out short and cost
#: a second, bigger window.
WINDOW_MARGIN_LOWER_BOUND = 2.5
#: A warm-up whose done rate reached this fraction of the rate the producer enqueued it at was producer-bound. The
#: batch is short (100-200 noops), so its first pickup and last task weigh: the Redis floor, whose workers keep up
#: with any producer, measured 0.74-1.15 in the same runs.
PRODUCER_BOUND_FRACTION = 0.7
#: A retry has at least this many times the tasks of the short window (when its measured rate asks for fewer).
RETRY_MIN_GROWTH = 1.25
#: Windows measured at most per figure; only the last is recorded.
MAX_ATTEMPTS = 3
#: Fewest tasks of a throughput window, and the rate assumed when nothing measured one yet (tasks/s).
MIN_WINDOW_TASKS = 20
DEFAULT_RATE = 50.0
#: How often the backlog drain checks whether the channel grew (resources are sampled on their own, finer grid).
DRAIN_POLL_S = 0.5


def run(session: ScenarioSession) -> None:
    """Tasks/s over a steady window of at least ``throughput_steady_s``: a noop backlog drained from a full
    queue (resources sampled meanwhile) at every process count, then each shop task produced while the workers
    consume (at the default process count only: the noop backlog shows how a backend scales with processes).
    """
    backlog_throughput(session)
    if session.processes != session.preset.default_processes:
        return
    for task, calibration in session.preset.concurrent_tasks.items():
        if task in session.backend.tasks:
            concurrent_throughput(session, task, calibration)


def rate_key(session: ScenarioSession, task: str, mode: str) -> RateKey:
    """The key of this session's measured rate of ``task`` in ``mode`` (``backlog`` / ``concurrent``) at its network."""
    return (session.backend.name, session.profile, task, mode, session.processes, session.network["name"])


def wanted_tasks(session: ScenarioSession, rate: float, margin: float) -> int:
    """How many tasks last the warm-up plus the steady window x ``margin`` at ``rate``."""
    seconds = session.preset.throughput_warmup_s + session.preset.throughput_steady_s
    return max(math.ceil(rate * seconds * margin) + session.processes, MIN_WINDOW_TASKS)


def warm_rate_is_lower_bound(warm_rate: float | None, enqueue_rate: float | None) -> bool:
    """Whether the warm-up's rate was the producer's (within :data:`PRODUCER_BOUND_FRACTION` of the rate it enqueued
    at): the workers kept up, so it says only that they are at least that fast."""
    return warm_rate is not None and enqueue_rate is not None and warm_rate >= PRODUCER_BOUND_FRACTION * enqueue_rate


def overall_rate(values: dict[str, Any], done: list[int]) -> float | None:
    """The measured rate that sizes a retry and later windows: the steady window's, else the whole run's."""
    if isinstance(values.get("tasks_per_s"), float):
        return float(values["tasks_per_s"])
    return completion.span_rate(done)


def throughput_record(
    session: ScenarioSession,
    probes: list[str],
    params: dict[str, Any],
    *,
    attempts: int,
    capped: bool,
    extra: dict[str, Any],
    scenario: str = "throughput",
) -> dict[str, Any]:
    """A throughput record (of ``scenario``) from the channel: confirmed (or body) rate over the steady window,
    F→C lag."""
    assert session.completion is not None
    preset = session.preset
    values, parts = completion.throughput_values(
        session.watcher.log,
        probes,
        completion=session.completion,
        warmup_s=preset.throughput_warmup_s,
        processes=session.processes,
    )
    values |= {"attempts": attempts, "capped": capped, "min_steady_s": preset.throughput_steady_s} | extra
    record = session.record(scenario, params, values=values, samples={"window_part_rates": parts})
    lost = values["lost"]
    if lost:
        record["status"] = "failed"
        record["error"] = f"{lost} of {len(probes)} tasks were not {session.completion}-done in time"
    elif values["steady_s"] < preset.throughput_steady_s:
        record["status"] = "too_short"
        record["error"] = f"steady window {values['steady_s']:.2f} s < {preset.throughput_steady_s:g} s" + (
            f" (capped at max_window_tasks={preset.max_window_tasks})" if capped else ""
        )
    return record


def backlog_throughput(session: ScenarioSession) -> None:
    """A noop backlog filled with no consumer, then drained; sized from the estimated rate to last the window.

    A window that came out short (the estimate was low) is measured again, bigger (:func:`sized_windows`).
    Resources are sampled at a fixed interval during the last drain.
    """
    assert session.producer is not None
    params = {"task": "noop", "processes": session.processes, "mode": "backlog"}
    measured = session.rates.get(rate_key(session, "noop", "backlog"))
    rate = measured or session.warm_rate or DEFAULT_RATE
    lower_bound = not measured and warm_rate_is_lower_bound(session.warm_rate, session.warm_enqueue_rate)
    load: dict[str, Any] = {}

    def measure(n: int, attempt: int, capped: bool) -> tuple[dict[str, Any], list[int]]:
        assert session.producer is not None
        session.stop_workers()  # the backlog is filled with no consumer running
        prefix = session.prefix("backlog")
        probes = [f"{prefix}{i}" for i in range(n)]
        session.progress(f"{session.label}: filling a backlog of {n} noops (attempt {attempt})")
        produced = session.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
        session.start_workers(probe=False)
        load.update(drain_sampling(session, probes))
        fill_s = (produced["last_ns"] - produced["first_ns"]) / 1e9
        extra = {"fill_s": fill_s, "warm_rate": session.warm_rate, "warm_enqueue_rate": session.warm_enqueue_rate}
        record = throughput_record(session, probes, params, attempts=attempt, capped=capped, extra=extra)
        return record, completion.done_times(session.watcher.log, probes, session.completion or completion.BODY)

    margin = WINDOW_MARGIN_LOWER_BOUND if lower_bound else WINDOW_MARGIN
    done = sized_windows(session, rate_key(session, "noop", "backlog"), rate, measure, margin=margin)
    resources.record(session, load, len(done))


def sized_windows(
    session: ScenarioSession,
    key: RateKey,
    rate: float,
    measure: Callable[[int, int, bool], tuple[dict[str, Any], list[int]]],
    *,
    margin: float = WINDOW_MARGIN,
) -> list[int]:
    """Run ``measure(tasks, attempt, capped)`` with a window sized from ``rate`` x ``margin``; its done times.

    A window that came out ``too_short`` (the rate was underestimated, or the machine slowed down) is measured
    again, sized from its own measured rate (the estimate, if that was higher) x :data:`WINDOW_MARGIN` and at
    least :data:`RETRY_MIN_GROWTH` times bigger (twice, when it measured no rate), up to :data:`MAX_ATTEMPTS`;
    only the last attempt stays recorded. Each record keeps the rate and margin that sized it. Every measured rate
    is kept in the run context to size later windows of the same kind.
    """
    previous, growth = 0, RETRY_MIN_GROWTH
    done: list[int] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        wanted = max(wanted_tasks(session, rate, margin), math.ceil(growth * previous))
        n = min(wanted, session.preset.max_window_tasks)
        record, done = measure(n, attempt, wanted > n)
        record["values"] |= {"sized_rate": rate, "sized_margin": margin}
        measured = overall_rate(record["values"], done)
        if measured:
            session.rates[key] = measured
        if record["status"] != "too_short" or wanted > n or attempt == MAX_ATTEMPTS:
            break
        session.drop(record)  # superseded by a bigger window
        rate, margin = max(rate, measured or 0.0), WINDOW_MARGIN
        growth = RETRY_MIN_GROWTH if measured else 2.0
        previous = n
    return done


def channel_bytes(session: ScenarioSession) -> int:
    """Bytes written to the channel so far: a growing number means the workers are still doing something."""
    total = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(session.channel_dir) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                total += entry.stat().st_size
    return total


def drain_sampling(session: ScenarioSession, probes: list[str]) -> dict[str, Any]:
    """Wait for every probe to be done while sampling the worker tree every ``resource_interval_s``.

    The channel is only parsed when it stopped growing for a poll interval (or at the deadline): parsing
    hundreds of thousands of events while the workers drain would take CPU from them on a small machine.
    """
    workers = session.workers
    assert workers is not None
    interval = session.preset.resource_interval_s
    kind = completion.KIND_FIELD[session.completion or completion.BODY]
    cpu0 = usage(workers.tree()).cpu_seconds
    rss: list[int] = []
    pss: list[int] = []
    wanted = set(probes)
    started = now = time.monotonic()
    deadline = now + session.preset.drain_timeout_s
    next_sample = next_poll = now
    size = -1
    while workers.alive():
        now = time.monotonic()
        if now >= next_sample:
            reading = usage(workers.tree())
            rss.append(reading.rss_bytes)
            pss.append(reading.pss_bytes)
            # A fixed grid: a slow reading does not shift the later ones (skipped slots are not made up).
            next_sample += interval * max(1, math.ceil((now - next_sample) / interval + 1e-9))
        if now >= next_poll:
            current = channel_bytes(session)
            if current == size or now > deadline:
                done_map = getattr(session.watcher.poll(), kind)
                wanted = {p for p in wanted if not done_map.get(p)}
                if not wanted or now > deadline:
                    break
            size = current
            session.progress(f"{session.label}: draining {len(probes)} tasks, {now - started:.0f} s")
            next_poll = now + DRAIN_POLL_S
        time.sleep(max(0.0, min(next_sample, next_poll) - time.monotonic()))
    cpu1 = usage(workers.tree()).cpu_seconds
    time.sleep(0.2)
    session.watcher.poll()  # late duplicates
    return {"rss": rss, "pss": pss, "cpu_s": cpu1 - cpu0}


def concurrent_throughput(session: ScenarioSession, task: str, calibration: int) -> None:
    """One shop task produced while the workers consume, sized to last the steady window.

    Its rate is first estimated from ``calibration`` tasks (not recorded) unless this run measured it already.
    """
    assert session.producer is not None
    session.ensure_workers()
    params = {"task": task, "processes": session.processes, "mode": "concurrent"}
    key = rate_key(session, task, "concurrent")
    rate = session.rates.get(key)
    if rate is None:
        probes = produce_task(session, task, calibration, "tpcal")
        session.drain(probes)
        log = session.watcher.log
        done = completion.done_times(log, probes, session.completion or completion.BODY)
        starts = completion.first_times(log.starts, probes)
        rate = len(done) * 1e9 / (done[-1] - starts[0]) if done and starts and done[-1] > starts[0] else None
    rate = rate or DEFAULT_RATE

    def measure(n: int, attempt: int, capped: bool) -> tuple[dict[str, Any], list[int]]:
        session.progress(f"{session.label}: {n} x {task} (attempt {attempt})")
        probes = produce_task(session, task, n, f"tp-{task}-")
        session.drain(probes)
        record = throughput_record(session, probes, params, attempts=attempt, capped=capped, extra={})
        return record, completion.done_times(session.watcher.log, probes, session.completion or completion.BODY)

    sized_windows(session, key, rate, measure)


def produce_task(session: ScenarioSession, task: str, count: int, name: str) -> list[str]:
    """Fresh arguments for ``count`` calls of ``task``, enqueued as fast as the producer can; their probes."""
    assert session.producer is not None
    args = session.producer.call(
        "prepare_args", task=task, count=count, import_rows=session.preset.import_rows, seed=session.seq
    )["args"]
    prefix = session.prefix(name)
    session.producer.call("produce", task=task, args=args, prefix=prefix)
    return [f"{prefix}{i}" for i in range(count)]


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    # Each figure is a time-based window (warm-up + steady part) after a calibration batch; the noop backlog at
    # every process count, the shop tasks at the default count only; a short window is redone.
    window = preset.throughput_warmup_s + preset.throughput_steady_s + 2 * SETTLE_S
    shop = [t for t in preset.concurrent_tasks if t in tasks and t != "noop"]
    per_task = [
        n * task_s(t, preset) / processes + window
        for t, n in preset.concurrent_tasks.items()
        if t in shop and processes == preset.default_processes
    ]
    return START_S + window * 1.3 + sum(per_task)
