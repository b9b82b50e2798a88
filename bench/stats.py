"""Statistics of the suite: HDR histograms, summaries over repetitions, significance tests and throughput.

Everything here is a pure function of raw measurements. Latency histograms are always merged bucket by bucket
(never by averaging percentiles, which has no meaning), and a comparison of two runs is only called significant when
a rank test over the repetitions says so, in the manner of pyperf's ``compare_to``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

# The range every histogram of the suite covers: 1 ns to 1 hour, 3 significant digits (0.1 % value resolution).
LOWEST_NS = 1
HIGHEST_NS = 3600 * 1_000_000_000
SIGNIFICANT_DIGITS = 3

#: The percentiles the reports show, in the order they are shown.
PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)

#: Significance level of :func:`compare_samples` (two-sided).
ALPHA = 0.05


# --------------------------------------------------------------------------------------------------------------------
# HDR histograms


def new_histogram() -> HdrHistogram:
    """An empty histogram over the suite's range (1 ns .. 1 h, 3 significant digits)."""
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS)


def record(histogram: HdrHistogram, values: Iterable[float]) -> int:
    """Record ``values`` (nanoseconds) into ``histogram``; return how many had to be clamped into range.

    A negative value (clock skew between processes) is recorded as 0 and a value beyond one hour as one hour, so no
    measurement silently disappears; the caller can report the clamped count.
    """
    clamped = 0
    for value in values:
        v = int(value)
        if v < 0:
            v, clamped = 0, clamped + 1
        elif v > HIGHEST_NS:
            v, clamped = HIGHEST_NS, clamped + 1
        histogram.record_value(v)
    return clamped


def histogram_of(values: Iterable[float]) -> HdrHistogram:
    """A new histogram holding ``values`` (nanoseconds)."""
    histogram = new_histogram()
    record(histogram, values)
    return histogram


def encode(histogram: HdrHistogram) -> str:
    """HdrHistogram's own compressed base64 encoding (V2 'HISTF…' blob), as stored in results files."""
    return histogram.encode().decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    """The histogram of an :func:`encode` string; ``ValueError`` when it is not one."""
    try:
        return HdrHistogram.decode(encoded.encode("ascii"))
    except Exception as exc:  # hdrh raises TypeError, zlib.error, its own cookie/length errors
        raise ValueError(f"not an HdrHistogram encoding: {type(exc).__name__}: {exc}") from exc


def merge(encoded: Iterable[str]) -> HdrHistogram:
    """One histogram holding every value of the given encoded histograms (bucket-wise sum)."""
    merged = new_histogram()
    for item in encoded:
        merged.add(decode(item))
    return merged


@dataclass(frozen=True)
class Percentiles:
    """The latency summary the reports print; all values in nanoseconds."""

    count: int
    mean: float
    p50: int
    p90: int
    p99: int
    p999: int
    max: int

    def as_dict(self) -> dict[str, float]:
        """Field name → value, in display order."""
        return {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "p99.9": self.p999,
            "max": self.max,
        }


def percentiles(histogram: HdrHistogram | str) -> Percentiles:
    """p50/p90/p99/p99.9/max/count/mean of a histogram (or of its encoding)."""
    if isinstance(histogram, str):
        histogram = decode(histogram)
    count = histogram.get_total_count()
    if not count:
        return Percentiles(0, math.nan, 0, 0, 0, 0, 0)
    values = histogram.get_percentile_to_value_dict(list(PERCENTILES))
    return Percentiles(
        count=count,
        mean=histogram.get_mean_value(),
        p50=values[50.0],
        p90=values[90.0],
        p99=values[99.0],
        p999=values[99.9],
        max=histogram.get_max_value(),
    )


# --------------------------------------------------------------------------------------------------------------------
# Summaries over repetitions


@dataclass(frozen=True)
class Summary:
    """Median of one metric over repetitions, with its spread (what a reader needs to trust a difference)."""

    n: int
    median: float
    min: float
    max: float

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.05 means the repetitions lie within 5 % of the median."""
        if self.n < 2 or not self.median:
            return 0.0
        return (self.max - self.min) / abs(self.median)


def summarize(values: Sequence[float]) -> Summary:
    """Median, min and max of the (non-NaN) ``values``; ``ValueError`` when there are none."""
    clean = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not clean:
        raise ValueError("no values to summarize")
    return Summary(len(clean), statistics.median(clean), min(clean), max(clean))


def bootstrap_median_ci(
    values: Sequence[float], *, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile-bootstrap confidence interval of the median; ``None`` below 3 values (it would be meaningless)."""
    if len(values) < 3:
        return None
    import numpy as np  # local: only reports need it

    rng = np.random.default_rng(seed)
    data = np.asarray(values, dtype=float)
    medians = np.median(rng.choice(data, size=(resamples, len(data)), replace=True), axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1.0 - alpha])
    return float(low), float(high)


# --------------------------------------------------------------------------------------------------------------------
# Comparing two sets of repetitions


@dataclass(frozen=True)
class Comparison:
    """Outcome of comparing a metric between a base and a changed set of repetitions."""

    base: Summary
    changed: Summary
    ratio: float  # changed median / base median
    p_value: float | None  # None: the test could not run
    verdict: str  # "1.32x slower", "1.10x faster", "not significant", "not enough repetitions …"

    @property
    def significant(self) -> bool:
        """True when the test rejected 'same distribution' at :data:`ALPHA`."""
        return self.p_value is not None and self.p_value < ALPHA


def format_ratio(ratio: float, *, higher_is_better: bool) -> str:
    """pyperf-style wording of ``changed / base``: '1.32x slower', '1.10x faster' or 'same'.

    For a time (lower is better) a ratio above 1 is slower; for a rate (higher is better) a ratio below 1 is slower.
    The factor is always shown ≥ 1 so '2.00x faster' and '2.00x slower' are symmetric.
    """
    if not math.isfinite(ratio) or ratio <= 0:
        return "incomparable"
    worse = ratio < 1 if higher_is_better else ratio > 1
    factor = max(ratio, 1 / ratio)
    if round(factor, 2) == 1.0:
        return "same"
    return f"{factor:.2f}x {'slower' if worse else 'faster'}"


def compare_samples(base: Sequence[float], changed: Sequence[float], *, higher_is_better: bool) -> Comparison:
    """Compare two sets of per-repetition values with Welch's two-sided t-test on their logarithms (scipy).

    As pyperf does, a t-test rather than a rank test: a rank test cannot reach p < 0.05 with 3 repetitions a side,
    which is what the full preset affords. Logarithms because timings are compared as ratios and are right-skewed.
    With fewer than 3 repetitions on a side the verdict says so instead of pretending to a decision.
    """
    a, b = summarize(base), summarize(changed)
    ratio = b.median / a.median if a.median else math.inf
    worded = format_ratio(ratio, higher_is_better=higher_is_better)
    if a.n < 3 or b.n < 3:
        return Comparison(a, b, ratio, None, f"{worded}, not enough repetitions ({a.n} vs {b.n}; need 3+ each)")
    if min(base) <= 0 or min(changed) <= 0:
        return Comparison(a, b, ratio, None, f"{worded}, not testable (non-positive values)")
    from scipy.stats import ttest_ind  # local: scipy import is slow and only comparisons need it

    log_a = [math.log(v) for v in base]
    log_b = [math.log(v) for v in changed]
    if statistics.pvariance(log_a) == 0 and statistics.pvariance(log_b) == 0:
        p_value = 1.0 if log_a[0] == log_b[0] else 0.0
    else:
        p_value = float(ttest_ind(log_a, log_b, equal_var=False).pvalue)
    verdict = worded if p_value < ALPHA else "not significant"
    return Comparison(a, b, ratio, p_value, verdict)


def geometric_mean(ratios: Iterable[float]) -> float:
    """Geometric mean of positive ratios (the one average of ratios that treats 2x and 0.5x symmetrically)."""
    clean = [r for r in ratios if r > 0 and math.isfinite(r)]
    if not clean:
        return math.nan
    return statistics.geometric_mean(clean)


# --------------------------------------------------------------------------------------------------------------------
# Throughput from task-side timestamps


def throughput(starts_ns: Sequence[int], finishes_ns: Sequence[int]) -> float:
    """Tasks per second between the first task start and the last task finish (channel timestamps, ns)."""
    if not finishes_ns:
        return 0.0
    span_ns = max(finishes_ns) - min(starts_ns) if starts_ns else 0
    if span_ns <= 0:
        return math.nan
    return len(finishes_ns) * 1e9 / span_ns


def steady_state_throughput(finishes_ns: Sequence[int], *, trim: float = 0.1) -> float:
    """Tasks per second over the middle of the run: the first and last ``trim`` fraction of completions are dropped.

    This excludes the warm-up ramp (workers still connecting, caches cold) and the drain tail (fewer tasks than
    workers), which would otherwise depress the rate of a short run.
    """
    ordered = sorted(finishes_ns)
    cut = int(len(ordered) * trim)
    window = ordered[cut : len(ordered) - cut]
    if len(window) < 2:
        return math.nan
    span_ns = window[-1] - window[0]
    if span_ns <= 0:
        return math.nan
    # n completions in the window delimit n - 1 inter-completion intervals.
    return (len(window) - 1) * 1e9 / span_ns


@dataclass(frozen=True)
class RatePoint:
    """One offered rate of the latency scenario and what came of it."""

    offered_rate: float
    p99_to_start_ns: float
    lost: int


def max_sustainable_rate(points: Iterable[RatePoint], *, bound_ns: float) -> float | None:
    """Highest offered rate whose p99 to-start latency is within ``bound_ns`` and that lost nothing.

    Rates above a failing rate do not count even if they pass by chance: sustainability must hold all the way up.
    ``None`` when even the lowest rate fails.
    """
    best = None
    for point in sorted(points, key=lambda p: p.offered_rate):
        if point.lost or not point.p99_to_start_ns <= bound_ns:
            break
        best = point.offered_rate
    return best


# --------------------------------------------------------------------------------------------------------------------
# Formatting


def format_ns(value: float | None) -> str:
    """A duration in ns as a short human string with a unit chosen for its size: '850 ns', '12.3 µs', '4.56 ms'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    v = float(value)
    if abs(v) >= 1000e9:
        return f"{v / 1e9:.0f} s"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.0f} ns"
