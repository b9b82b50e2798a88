"""Registry of the metrics computed from records: what the report ranks and what ``compare`` compares.

Each metric is a function of one record (one repetition), so a metric over repetitions is a list of values that
``bench.stats`` can summarize or test. Nothing here writes into the records (ann-benchmarks' lesson).
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
class Metric:
    """A named number per record, with its unit and which direction is better."""

    scenario: str
    name: str
    unit: str  # "ns", "tasks/s", "bytes", "s", "count"
    higher_is_better: bool
    extract: Callable[[Record], float | None]

    def per_repetition(self, records: Sequence[Record]) -> list[float]:
        """The metric of each ok repetition that has it."""
        found = (self.extract(r) for r in records if r.ok)
        return [v for v in found if v is not None]


METRICS: tuple[Metric, ...] = (
    Metric("enqueue", "enqueue p50", "ns", False, lambda r: histogram_percentile(r, "latency_ns", "p50")),
    Metric("enqueue", "enqueue p99", "ns", False, lambda r: histogram_percentile(r, "latency_ns", "p99")),
    Metric("throughput", "tasks/s", "tasks/s", True, lambda r: value(r, "tasks_per_s")),
    Metric("latency", "to-start p50", "ns", False, lambda r: histogram_percentile(r, "to_start_ns", "p50")),
    Metric("latency", "to-start p99", "ns", False, lambda r: histogram_percentile(r, "to_start_ns", "p99")),
    Metric("latency", "to-finish p99", "ns", False, lambda r: histogram_percentile(r, "to_finish_ns", "p99")),
    Metric("latency", "achieved rate", "tasks/s", True, lambda r: value(r, "achieved_rate")),
    Metric("idle_pickup", "pickup median", "ns", False, lambda r: sample_median(r, "pickup_ns")),
    Metric("resources", "RSS idle", "bytes", False, lambda r: value(r, "rss_idle_bytes")),
    Metric("resources", "RSS under load", "bytes", False, lambda r: value(r, "rss_load_bytes")),
    Metric("resources", "CPU s per 1000 tasks", "s", False, lambda r: value(r, "cpu_s_per_1000")),
    Metric("enqueue_microbench", "pytest-benchmark median", "s", False, lambda r: value(r, "median_s")),
    Metric("channel_overhead", "write p50", "ns", False, lambda r: value(r, "write_ns_p50")),
    Metric("db_statements", "DB statements per task", "count", False, lambda r: value(r, "statements")),
    Metric("db_statements", "DB write commits per task", "count", False, lambda r: value(r, "write_commits")),
    # Retries: how far the gaps are from the configured delay; attempt counts and windows are facts, not metrics.
    Metric("retries", "gap error (mean)", "s", False, lambda r: _abs(value(r, "gap_error_mean_s"))),
    Metric("faults", "lost (not classified)", "count", False, lambda r: accounting_count(r, "lost")),
    Metric("faults", "gone", "count", False, lambda r: accounting_count(r, "gone")),
    Metric("faults", "stranded", "count", False, lambda r: accounting_count(r, "stranded")),
    Metric("faults", "duplicated", "count", False, lambda r: accounting_count(r, "duplicated")),
)


def _abs(number: float | None) -> float | None:
    return None if number is None else abs(number)


def metrics_for(scenario: str, records: Sequence[Record] = ()) -> list[Metric]:
    """The registered metrics of ``scenario``; for a scenario nobody registered, one per numeric value found.

    Generic metrics have no known direction; they are treated as lower-is-better and labelled as such by callers.
    """
    known = [m for m in METRICS if m.scenario == scenario]
    if known:
        return known
    names = dict.fromkeys(k for r in records for k, v in r.values.items() if isinstance(v, int | float))
    return [Metric(scenario, name, "", False, lambda r, n=name: value(r, n)) for name in names]


def format_value(number: float | None, unit: str) -> str:
    """A metric value with its unit, for people (see :mod:`bench.report.numbers`)."""
    return format_unit(number, unit)
