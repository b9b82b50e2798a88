"""Every derived figure of the reports, computed in one place: the terminal summary, report.md and report.html.

Derived figures are numbers computed from the raw records of a results file: the ratio of a backend's figure to its
floor (the raw broker loop measured in the same run), the latency state of each offered rate and the maximum
sustainable rate, comparisons between backends with their test result, and the human formatting of all of them.
Nothing here writes into a record; everything is a pure function of :class:`~bench.results.RunResults`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bench import stats
from bench.report.figures import Figure, value
from bench.results import Record, RunResults

#: The Redis floor's backend name: the floor of every backend whose description names no other.
REDIS_FLOOR = "redis-baseline"
#: Below this share of the offered rate, the producer could not send on schedule (the enqueue path saturated).
SEND_SHARE = 0.9
#: Below this share of the send rate, completions fall behind: the backend is saturated.
COMPLETE_SHARE = 0.9


def median(values: Sequence[float]) -> float | None:
    """Median, None for no values."""
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------------------------------------------------
# Backend descriptions: floors, API, broker


def description(results: RunResults, name: str) -> Mapping[str, Any]:
    """A backend's description in the results file ({} when absent)."""
    info = results.backends.get(name)
    return info if isinstance(info, Mapping) else {}


def label(results: RunResults, name: str) -> str:
    """A backend's display label."""
    return str(description(results, name).get("label") or name)


def is_floor(results: RunResults, name: str) -> bool:
    """A raw broker loop (never ranked): role ``floor`` in its description, or the Redis floor by name."""
    role = description(results, name).get("role")
    return role == "floor" if role is not None else name == REDIS_FLOOR


def floors(results: RunResults) -> list[str]:
    """The floors of the run, the Redis floor first."""
    names = [n for n in results.backend_names if is_floor(results, n)]
    return sorted(names, key=lambda n: (n != REDIS_FLOOR, n))


def floor_of(results: RunResults, name: str) -> str | None:
    """The floor a backend's figures are divided by: its description's ``floor``, else the Redis floor.

    None for a floor itself, or when the run has no such floor.
    """
    if is_floor(results, name):
        return None
    chosen = description(results, name).get("floor") or REDIS_FLOOR
    present = set(results.backend_names) | set(results.backends)
    return str(chosen) if chosen in present else None


def api_of(results: RunResults, name: str) -> str | None:
    """'native' or 'django.tasks' (the description's ``api``); None when not recorded."""
    api = description(results, name).get("api")
    return str(api) if api else None


def broker_of(results: RunResults, name: str) -> str | None:
    """'redis' or 'database' (the description's ``broker``); None when not recorded."""
    broker = description(results, name).get("broker")
    return str(broker) if broker else None


# --------------------------------------------------------------------------------------------------------------------
# Figures and their ratio to the floor


@dataclass(frozen=True)
class Measured:
    """One backend's figure over repetitions, and the same figure of its floor in the same run.

    ``ratios`` are per repetition where the floor has the same repetition (the same stretch of the run), else the
    ratio of the medians (one value).
    """

    values: list[float]
    floor: str | None
    floor_values: list[float]
    ratios: list[float]

    @property
    def median(self) -> float | None:
        """Median of the backend's values."""
        return median(self.values)

    @property
    def ratio(self) -> float | None:
        """Median of the ratios to the floor."""
        return median(self.ratios)

    @property
    def paired(self) -> bool:
        """Whether the ratios were taken repetition by repetition."""
        return len(self.ratios) > 1 or (len(self.ratios) == 1 and len(self.values) == 1)


def per_repetition(records: Sequence[Record], extract: Callable[[Record], float | None]) -> dict[int, float]:
    """repetition → the figure of each ok record that has it."""
    found = {}
    for r in records:
        if r.ok:
            v = extract(r)
            if v is not None:
                found[r.repetition] = v
    return found


def floor_records(
    results: RunResults,
    floor: str,
    scenario: str,
    params: Mapping[str, Any],
    profile: str,
    network: str | None = None,
) -> list[Record]:
    """The floor's records of the same scenario, params and network: same profile if it has them, else any
    profile."""
    same = results.select(backend=floor, scenario=scenario, profile=profile, params=dict(params), network=network)
    if same:
        return same
    found = results.select(backend=floor, scenario=scenario, params=dict(params), network=network)
    first = min((r.profile for r in found), default=None)  # one profile's records, never a mix
    return [r for r in found if r.profile == first]


def one_network(results: RunResults, records: Sequence[Record]) -> tuple[list[Record], str | None]:
    """``records`` of one network, and its name: all of them when they share one, else those of the first network of
    the run that has any (the run's main network). The repetitions of two networks are two measurements, never
    one."""
    present = list(dict.fromkeys(r.network_name for r in records))
    if len(present) <= 1:
        return list(records), (present[0] if present else None)
    chosen = next((n for n in results.networks if n in present), present[0])
    return [r for r in records if r.network_name == chosen], chosen


def figure(
    results: RunResults,
    backend: str,
    profile: str,
    of: Figure,
    params: Mapping[str, Any],
    network: str | None = None,
) -> Measured:
    """A backend's figure ``of`` (a :data:`~bench.report.figures.FIGURES` entry) over repetitions at ``network``
    (default: the one its records share, else the run's main network: :func:`one_network`), and its ratio to its
    floor for the same scenario, params and network."""
    scenario, extract = of.scenario, of.extract
    records, network = one_network(
        results,
        results.select(backend=backend, profile=profile, scenario=scenario, params=dict(params), network=network),
    )
    mine = per_repetition(records, extract)
    values = [mine[k] for k in sorted(mine)]
    floor = floor_of(results, backend)
    if floor is None:
        return Measured(values, None, [], [])
    theirs = per_repetition(floor_records(results, floor, scenario, params, profile, network), extract)
    floor_values = [theirs[k] for k in sorted(theirs)]
    paired = [mine[k] / theirs[k] for k in sorted(mine) if theirs.get(k)]
    if len(paired) == len(mine) and paired:
        ratios = paired
    elif values and floor_values and median(floor_values):
        ratios = [median(values) / median(floor_values)]  # type: ignore[operator]
    else:
        ratios = []
    return Measured(values, floor if floor_values else None, floor_values, ratios)


def per_task_count(number: float | None) -> float:
    """A per-task count as shown: an idle window is subtracted, so |x| < 0.05 per task is nothing (0.0)."""
    return 0.0 if number is None or abs(number) < 0.05 else number


def median_ratio(base: Measured, other: Measured) -> float | None:
    """``other``'s median over ``base``'s (e.g. shipped over bare: what the integration multiplies); None if either
    is missing or the base is zero."""
    if base.median is None or other.median is None or not base.median:
        return None
    return other.median / base.median


def floor_ratio_ratio(base: Measured, other: Measured) -> float | None:
    """``other``'s ratio to its floor over ``base``'s ratio to its floor: the same comparison as median_ratio, but
    with each profile's figure first divided by the floor measured in its own stretch of the run, so that drift of
    the machine between the two sessions cancels out. None without both ratios."""
    if base.ratio is None or other.ratio is None or not base.ratio:
        return None
    return other.ratio / base.ratio


def same_profile(results: RunResults, backend: str, profile: str) -> tuple[str, str] | None:
    """(the profile it was measured as, why) when the backend declared ``profile`` the same configuration as another
    (backend.toml ``[profiles]``, recorded in the results' backend description); None otherwise."""
    entry = (description(results, backend).get("profiles") or {}).get(profile) or {}
    same_as = entry.get("same_as") if isinstance(entry, Mapping) else None
    return (str(same_as), str(entry.get("same_reason") or "")) if same_as else None


def headline_processes(results: RunResults, available: Sequence[int]) -> int | None:
    """The worker process count of the headline figures: the machine's core count, else the nearest below, else max."""
    if not available:
        return None
    cores = results.environment.get("cpu_count")
    if isinstance(cores, int):
        if cores in available:
            return cores
        below = [p for p in available if p < cores]
        if below:
            return max(below)
    return max(available)


# --------------------------------------------------------------------------------------------------------------------
# Latency under load: the state of each offered rate and the maximum sustainable rate

OK = "ok"
OVER_BOUND = "over the latency bound"
SATURATED = "saturated"
LOST = "tasks lost"


@dataclass(frozen=True)
class RateState:
    """One offered rate of the latency scenario, merged over repetitions, and what it was."""

    rate: float
    sent_per_s: float | None  # the producer's achieved send rate
    completed_per_s: float | None
    completed_exact: bool  # False: a lower bound from the intended schedule and the to-finish spread
    p50: float
    p99: float
    finish_p99: float | None
    lost: float
    state: str  # OK, OVER_BOUND, SATURATED, LOST

    @property
    def sustained(self) -> bool:
        """Within the bound, nothing lost, sending and completing at the offered rate."""
        return self.state == OK


@dataclass(frozen=True)
class _Summary:
    count: int
    p50: float
    p99: float
    min: float
    max: float


@lru_cache(maxsize=4096)
def _summary(encoded: tuple[str, ...]) -> _Summary:
    """count, p50, p99, min, max of the merge of encoded histograms, cached (the same ones are read many times).

    Only the percentiles asked for: HdrHistogram's mean iterates every bucket, which is slow for wide ranges.
    """
    merged = stats.merge(encoded)
    count = merged.get_total_count()
    if not count:
        return _Summary(0, math.nan, math.nan, math.nan, math.nan)
    return _Summary(
        count,
        merged.get_value_at_percentile(50),
        merged.get_value_at_percentile(99),
        merged.get_min_value(),
        merged.get_max_value(),
    )


def _completed_rate(record: Record) -> tuple[float | None, bool]:
    """completed/s of one latency record: recorded (``completed_rate``), else a lower bound.

    The bound: completions ÷ (intended send span + spread of the to-finish latencies). The first completion is no
    earlier than the first intended send + the smallest to-finish latency, the last no later than the last intended
    send + the largest, so this span is at least the real one.
    """
    recorded = value(record, "completed_rate")
    if recorded is not None:
        return recorded, True
    completed, sent, offered = value(record, "completed"), value(record, "sent"), value(record, "offered_rate")
    encoded = record.histograms.get("to_finish_ns")
    if completed is None or not sent or not offered or not encoded:
        return None, False
    hist = _summary((encoded,))
    if not hist.count:
        return None, False
    span_s = (sent - 1) / offered + (hist.max - hist.min) / 1e9
    return (completed / span_s if span_s > 0 else None), False


def rate_states(records: Sequence[Record], bound_ns: float) -> list[RateState]:
    """Every offered rate of a backend's latency records, lowest first."""
    by_rate: dict[float, list[Record]] = {}
    for r in records:
        if r.scenario == "latency" and "rate" in r.params:
            by_rate.setdefault(float(r.params["rate"]), []).append(r)
    states = []
    for rate in sorted(by_rate):
        every = by_rate[rate]
        reps = [r for r in every if r.ok]
        # A record failed for lost tasks still carries its histograms: the tasks that did finish.
        measured = [r for r in every if r.histograms.get("to_start_ns")]
        encoded = tuple(r.histograms["to_start_ns"] for r in measured)
        start = _summary(encoded) if encoded else None
        if start is None or not start.count:
            continue
        finish_enc = tuple(r.histograms["to_finish_ns"] for r in measured if r.histograms.get("to_finish_ns"))
        finish = _summary(finish_enc) if finish_enc else None
        sent = median([v for v in (value(r, "achieved_rate") for r in measured) if v is not None])
        completions = [_completed_rate(r) for r in measured]
        done = median([c for c, _ in completions if c is not None])
        exact = bool(completions) and all(e for _, e in completions)
        lost = sum(v for v in (value(r, "lost") for r in every) if v is not None)
        if lost or len(reps) < len(every):
            state = LOST
        elif (sent is not None and sent < SEND_SHARE * rate) or (
            done is not None and sent is not None and done < COMPLETE_SHARE * sent
        ):
            state = SATURATED
        elif start.p99 > bound_ns:
            state = OVER_BOUND
        else:
            state = OK
        states.append(
            RateState(rate, sent, done, exact, start.p50, start.p99, finish.p99 if finish else None, lost, state)
        )
    return states


def max_sustainable(states: Sequence[RateState]) -> RateState | None:
    """The highest offered rate sustained with every lower rate sustained too; None when the lowest failed."""
    best = None
    for s in sorted(states, key=lambda s: s.rate):
        if not s.sustained:
            break
        best = s
    return best


def sustainable_text(states: Sequence[RateState]) -> str:
    """'≥ 800 tasks/s' (every rate tried sustained), '200 tasks/s', or 'none (50/s: over the latency bound)'."""
    if not states:
        return "–"
    best = max_sustainable(states)
    top = max(s.rate for s in states)
    if best is None:
        first = min(states, key=lambda s: s.rate)
        return f"none ({first.rate:g}/s: {first.state})"
    return f"{'≥ ' if best.rate == top else ''}{best.rate:g} tasks/s"


def first_failure(states: Sequence[RateState]) -> RateState | None:
    """The lowest rate that was not sustained."""
    return next((s for s in sorted(states, key=lambda s: s.rate) if not s.sustained), None)


# --------------------------------------------------------------------------------------------------------------------
# Comparisons with their test


def test_text(base: Sequence[float], other: Sequence[float], *, higher_is_better: bool) -> str:
    """How ``other`` compares with ``base``: '1.8x, p=0.01', '1.1x, not significant (p=0.4)', '1 repetition: no test'.

    Welch's t-test on the logarithms of the per-repetition values (``bench.stats.compare_samples``); the factor is
    always ≥ 1 (which side is better is said by the ranking it annotates).
    """
    n = min(len(base), len(other))
    if n == 0:
        return "not measured"
    if n < 2:
        return "1 repetition: no test"
    cmp = stats.compare_samples(base, other, higher_is_better=higher_is_better)
    factor = max(cmp.ratio, 1 / cmp.ratio) if cmp.ratio > 0 and math.isfinite(cmp.ratio) else math.nan
    factor_text = f"{factor:.1f}x" if math.isfinite(factor) else "?x"
    if cmp.p_value is None:
        return f"{factor_text}, {n} repetitions: no test"
    p = cmp.p_value
    p_text = f"p={p:.2g}" if p >= 0.001 else "p<0.001"
    return f"{factor_text}, {p_text}" if cmp.significant else f"{factor_text}, not significant ({p_text})"


def significantly_worse(base: Sequence[float], other: Sequence[float], *, higher_is_better: bool) -> bool | None:
    """Whether ``other`` is significantly worse than ``base``; None when no test can run."""
    if min(len(base), len(other)) < 3:
        return None
    cmp = stats.compare_samples(base, other, higher_is_better=higher_is_better)
    if cmp.p_value is None:
        return None
    worse = cmp.ratio < 1 if higher_is_better else cmp.ratio > 1
    return cmp.significant and worse
