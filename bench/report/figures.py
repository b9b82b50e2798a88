"""Every reported figure, defined once: how it is read from a record, its unit, which direction is better, how it is
written. The scorecard, the Answers, the details, the terminal summary (``bench/__main__.py``), the charts and
``compare`` all read :data:`FIGURES`, and the good/middling/bad thresholds (:data:`NEAR_BEST`, :data:`FAR_FROM_BEST`)
with the legend written from them live here too.

Each figure is a function of one record (one repetition), so a figure over repetitions is a list of values that
``bench.stats`` can summarize or test, and its ratio to the floor is taken repetition by repetition
(:func:`bench.report.derived.figure`). Nothing here writes into the records (ann-benchmarks' lesson). A scenario names
the figures it provides (``figures`` of its declaration in ``bench/scenarios/registry.py``); a scenario added later
registers its own with :func:`register`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bench import stats
from bench.report.numbers import format_unit
from bench.results import Record


@lru_cache(maxsize=8192)
def merged_percentiles(encoded: tuple[str, ...]) -> stats.Percentiles:
    """Percentiles of the bucket-wise merge of encoded histograms, cached: the same ones are read by many tables.

    ``mean`` is left NaN: HdrHistogram computes it by walking every bucket (about a second for a wide histogram),
    and no report shows it.
    """
    merged = stats.merge(encoded)
    count = merged.get_total_count()
    if not count:
        return stats.Percentiles(0, math.nan, 0, 0, 0, 0, 0)
    values = {q: merged.get_value_at_percentile(q) for q in stats.PERCENTILES}
    return stats.Percentiles(
        count=count,
        mean=math.nan,
        p50=values[50.0],
        p90=values[90.0],
        p99=values[99.0],
        p999=values[99.9],
        max=merged.get_max_value(),
    )


def _percentiles(encoded: str) -> stats.Percentiles:
    return merged_percentiles((encoded,))


def histogram_percentile(record: Record, name: str, label: str) -> float | None:
    """A percentile ('p50', 'p90', 'p99', 'p99.9', 'max', 'count') of a record's histogram; None when absent."""
    encoded = record.histograms.get(name)
    if not encoded:
        return None
    pct = _percentiles(encoded)
    return None if not pct.count and label != "count" else pct.as_dict()[label]


def flat_samples(value: Any) -> list[float]:
    """A samples entry as one list: a list of numbers as is, a {task id: [numbers]} mapping concatenated."""
    if isinstance(value, Mapping):
        return [float(x) for v in value.values() for x in v]
    return [float(x) for x in value or []]


def sample_median(record: Record, name: str) -> float | None:
    """Median of a samples entry; None when absent or empty."""
    values = flat_samples(record.samples.get(name))
    return statistics.median(values) if values else None


def value(record: Record, name: str) -> float | None:
    """A numeric entry of ``values``; None when absent, null or not a number."""
    raw = record.values.get(name)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
        return None
    return float(raw)


def accounting_count(record: Record, outcome: str) -> float | None:
    """How many task ids ended as ``outcome`` (completed/duplicated/stranded/gone, or lost in older files).

    None when the record's accounting does not have that outcome (an older file has no gone, a newer no lost).
    """
    if record.accounting is None or outcome not in record.accounting:
        return None
    return float(len(record.accounting.get(outcome, [])))


@dataclass(frozen=True)
class Figure:
    """A named number per record, with its unit, which direction is better and how it is written."""

    #: The registry key (``figures`` of a scenario declaration names it).
    name: str
    scenario: str
    #: What a table or ``compare`` calls it.
    label: str
    unit: str  # "ns", "tasks/s", "bytes", "s", "count", "" (a number without unit)
    higher_is_better: bool
    extract: Callable[[Record], float | None]
    #: The report's Answers rank backends by it (``compare`` checks that the ranking held).
    ranked: bool = False
    #: ``compare`` lists it (new connections per task are read beside the statements, not compared on their own).
    compared: bool = True

    def per_repetition(self, records: Sequence[Record]) -> list[float]:
        """The figure of each ok repetition that has it."""
        found = (self.extract(r) for r in records if r.ok)
        return [v for v in found if v is not None]

    def text(self, number: float | None) -> str:
        """A value of this figure for people: '40 µs', '2,600 tasks/s', '56 MB'; '–' for None."""
        return format_unit(number, self.unit)


def _abs(number: float | None) -> float | None:
    return None if number is None else abs(number)


def _percentile(name: str, label: str) -> Callable[[Record], float | None]:
    return lambda r: histogram_percentile(r, name, label)


def _value(name: str) -> Callable[[Record], float | None]:
    return lambda r: value(r, name)


def _outcome(name: str) -> Callable[[Record], float | None]:
    return lambda r: accounting_count(r, name)


#: Every figure of the report, by name, in reading order.
FIGURES: dict[str, Figure] = {}


def register(figure: Figure) -> Figure:
    """Add a figure to :data:`FIGURES` (a name is registered once)."""
    if figure.name in FIGURES:
        raise ValueError(f"figure {figure.name!r} is registered already")
    FIGURES[figure.name] = figure
    return figure


for _figure in (
    Figure("enqueue_p50", "enqueue", "enqueue p50", "ns", False, _percentile("latency_ns", "p50"), ranked=True),
    Figure("enqueue_p99", "enqueue", "enqueue p99", "ns", False, _percentile("latency_ns", "p99")),
    Figure("tasks_per_s", "throughput", "tasks/s", "tasks/s", True, _value("tasks_per_s"), ranked=True),
    Figure("to_start_p50", "latency", "to-start p50", "ns", False, _percentile("to_start_ns", "p50")),
    Figure("to_start_p99", "latency", "to-start p99", "ns", False, _percentile("to_start_ns", "p99")),
    Figure("to_finish_p99", "latency", "to-finish p99", "ns", False, _percentile("to_finish_ns", "p99")),
    Figure("achieved_rate", "latency", "achieved rate", "tasks/s", True, _value("achieved_rate")),
    Figure("idle_pickup", "idle_pickup", "pickup median", "ns", False, lambda r: sample_median(r, "pickup_ns")),
    Figure("rss_idle", "resources", "RSS idle", "bytes", False, _value("rss_idle_bytes")),
    Figure("rss_load", "resources", "RSS under load", "bytes", False, _value("rss_load_bytes")),
    Figure("cpu_per_1000", "resources", "CPU s per 1000 tasks", "s", False, _value("cpu_s_per_1000")),
    Figure("microbench_median", "enqueue_microbench", "pytest-benchmark median", "s", False, _value("median_s")),
    Figure("channel_write_p50", "channel_overhead", "write p50", "ns", False, _value("write_ns_p50")),
    Figure("db_statements", "db_statements", "DB statements per task", "count", False, _value("statements")),
    Figure("db_write_commits", "db_statements", "DB write commits per task", "count", False, _value("write_commits")),
    Figure(
        "db_connections",
        "db_statements",
        "DB connections per task",
        "count",
        False,
        _value("connections"),
        compared=False,
    ),
    # Retries: how far the gaps are from the configured delay; attempt counts and windows are facts, not figures.
    Figure("retry_gap_error", "retries", "gap error (mean)", "s", False, lambda r: _abs(value(r, "gap_error_mean_s"))),
    Figure("faults_lost", "faults", "lost (not classified)", "count", False, _outcome("lost")),
    Figure("faults_gone", "faults", "gone", "count", False, _outcome("gone")),
    Figure("faults_stranded", "faults", "stranded", "count", False, _outcome("stranded")),
    Figure("faults_duplicated", "faults", "duplicated", "count", False, _outcome("duplicated")),
):
    register(_figure)


def figures_for(scenario: str, records: Sequence[Record] = ()) -> list[Figure]:
    """The registered figures of ``scenario``; for a scenario nobody registered, one per numeric value found.

    Generic figures have no known direction; they are treated as lower-is-better and labelled as such by callers.
    """
    known = [f for f in FIGURES.values() if f.scenario == scenario]
    if known:
        return known
    names = dict.fromkeys(k for r in records for k, v in r.values.items() if isinstance(v, int | float))
    return [Figure(name, scenario, name, "", False, _value(name)) for name in names]


def format_value(number: float | None, unit: str) -> str:
    """A value with its unit, for people (see :mod:`bench.report.numbers`)."""
    return format_unit(number, unit)


# --------------------------------------------------------------------------------------------------------------------
# Good / middling / bad: how far a figure is from the best backend's

GOOD, MID, BAD, NA = "good", "mid", "bad", "na"
#: A figure within this factor of the best backend's is as good; within the next, middling; beyond, bad.
NEAR_BEST, FAR_FROM_BEST = 1.25, 2.0


def tone_by_factor(factor: float | None) -> str:
    """GOOD within :data:`NEAR_BEST` × of the best backend, MID within :data:`FAR_FROM_BEST` ×, else BAD; NA when
    unknown."""
    if factor is None or not math.isfinite(factor):
        return NA
    return GOOD if factor <= NEAR_BEST else MID if factor <= FAR_FROM_BEST else BAD


def thresholds_legend() -> str:
    """The legend's words for the thresholds: 'best or within 1.25× of the best backend', 'within 2×', 'beyond 2×'."""
    return (
        f"Green: best or within {NEAR_BEST:g}× of the best backend (or not significantly worse); amber: within "
        f"{FAR_FROM_BEST:g}×; red: beyond {FAR_FROM_BEST:g}×"
    )
