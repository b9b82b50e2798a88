"""When is a task done, and how fast did a backend complete tasks over a steady window: pure functions of a ProbeLog.

A task is *done* when its backend says so: the ``C`` (confirmed) channel event each project writes from its
library's own completion hook (docs/ARCHITECTURE.md). A backend that writes no ``C`` falls back to ``F`` (the body
returned), and every record says which was used (``"completion": "confirmed" | "body"``). The gap between the two,
``F`` → ``C``, is the backend's own bookkeeping after the body (a result row saved by another process, an ack) and
is reported as the *lag*.

Throughput is measured over time, not over a task count: from the first completion, ``warmup_s`` are left out
(workers still connecting, caches cold), and the window ends at the completion before the last ``processes`` ones
(the ragged tail where fewer tasks than workers remained). A window shorter than the preset's minimum is
``too_short`` and is not ranked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bench.channel_wait import ProbeLog

#: ``completion`` values of a record, and the ProbeLog field each one reads.
CONFIRMED = "confirmed"
BODY = "body"
KIND_FIELD = {CONFIRMED: "confirms", BODY: "finishes"}

#: A steady window is cut into this many equal parts; their rates are stored as the record's spread.
WINDOW_PARTS = 10


def first_times(events: Mapping[str, list[int]], probes: Iterable[str]) -> list[int]:
    """The first event time of every probe that has one, sorted."""
    return sorted(min(times) for p in probes if (times := events.get(p)))


def done_times(log: ProbeLog, probes: Iterable[str], completion: str) -> list[int]:
    """When each probe was done, by ``completion`` (``confirmed``: its first C; ``body``: its first F), sorted."""
    return first_times(getattr(log, KIND_FIELD[completion]), probes)


def lags_ns(log: ProbeLog, probes: Iterable[str]) -> list[int]:
    """F → C per probe that has both: its first C minus the last F before it (a retried task finishes once)."""
    lags = []
    for p in probes:
        confirms = log.confirms.get(p)
        finishes = log.finishes.get(p)
        if not confirms or not finishes:
            continue
        c = min(confirms)
        before = [f for f in finishes if f <= c]
        if before:
            lags.append(c - max(before))
    return lags


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) of ``values`` by nearest rank; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def lag_values(log: ProbeLog, probes: Iterable[str]) -> dict[str, float | int | None]:
    """``lag_p50_ns``, ``lag_p99_ns``, ``lag_max_ns`` and ``lag_count`` of F → C over ``probes``."""
    lags = lags_ns(log, probes)
    return {
        "lag_count": len(lags),
        "lag_p50_ns": nearest_rank(lags, 50),
        "lag_p99_ns": nearest_rank(lags, 99),
        "lag_max_ns": max(lags) if lags else None,
    }


def span_rate(times: Sequence[int]) -> float | None:
    """Completions per second from the first to the last of sorted ``times`` (no warm-up or tail left out)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) * 1e9 / (times[-1] - times[0])


@dataclass(frozen=True)
class Window:
    """A steady window over completion times (ns) and the rate in it."""

    start_ns: int
    end_ns: int
    count: int
    #: Completion rates of :data:`WINDOW_PARTS` equal parts of the window (its spread).
    part_rates: tuple[float, ...]

    @property
    def seconds(self) -> float:
        """The window's length."""
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def rate(self) -> float | None:
        """Completions per second inside the window; ``None`` for an empty window."""
        return self.count / self.seconds if self.seconds > 0 and self.count else None


def steady_window(times: Sequence[int], *, warmup_s: float, tail: int) -> Window | None:
    """The steady window of sorted completion ``times``: ``warmup_s`` after the first, up to the one before the
    last ``tail`` completions; ``None`` when nothing completed.

    The count is the completions in ``(start, end]``, so ``count / seconds`` is a rate over whole intervals.
    """
    if not times:
        return None
    start = times[0] + round(warmup_s * 1e9)
    end = times[max(0, len(times) - 1 - tail)]
    if end <= start:
        return Window(start, start, 0, ())
    inside = [t for t in times if start < t <= end]
    step = (end - start) / WINDOW_PARTS
    counts = [0] * WINDOW_PARTS
    for t in inside:
        counts[min(WINDOW_PARTS - 1, int((t - start) / step))] += 1
    return Window(start, end, len(inside), tuple(c * 1e9 / step for c in counts))


def throughput_values(
    log: ProbeLog,
    probes: Sequence[str],
    *,
    completion: str,
    warmup_s: float,
    processes: int,
) -> tuple[dict[str, object], list[float]]:
    """The values of a throughput record and the part rates of its steady window.

    ``tasks_per_s`` is the rate of ``completion`` (what the backend counts as done) over its steady window;
    ``body_tasks_per_s`` the same for F; ``confirmed_tasks_per_s`` for C (``None`` without C events). Bodies can
    all finish within the warm-up while the backend's bookkeeping is still far behind (django-q2's monitor): the
    body rate is then taken from the first to the last finish, and ``body_steady_s`` is that span.
    """
    done = done_times(log, probes, completion)
    body = first_times(log.finishes, probes)
    confirmed = first_times(log.confirms, probes)
    window = steady_window(done, warmup_s=warmup_s, tail=processes)
    body_window = steady_window(body, warmup_s=warmup_s, tail=processes)
    if body_window is not None and body_window.rate is None and len(body) > 1:
        body_window = Window(body[0], body[-1], len(body) - 1, ())
    confirmed_window = steady_window(confirmed, warmup_s=warmup_s, tail=processes)
    starts = first_times(log.starts, probes)
    values: dict[str, object] = {
        "tasks": len(probes),
        "completed": len(done),
        "completion": completion,
        "lost": len(probes) - len(done),
        "failed_attempts": sum(len(log.errors.get(p, ())) for p in probes),
        "duplicates": sum(1 for p in probes if len(log.starts.get(p, ())) > 1),
        "seconds": (done[-1] - starts[0]) / 1e9 if done and starts else None,
        "tasks_per_s": window.rate if window else None,
        "steady_s": window.seconds if window else 0.0,
        "warmup_excluded_s": warmup_s,
        "tail_excluded_tasks": min(processes, len(done)),
        "window_tasks": window.count if window else 0,
        "body_tasks_per_s": body_window.rate if body_window else None,
        "body_steady_s": body_window.seconds if body_window else 0.0,
        "confirmed_tasks_per_s": confirmed_window.rate if confirmed_window else None,
    } | lag_values(log, probes)
    return values, list(window.part_rates) if window else []
