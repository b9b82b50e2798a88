"""Unit tests of bench.stats: histograms, merging, percentiles, summaries, significance and throughput."""

from __future__ import annotations

import math
import random

import pytest

from bench import stats

pytestmark = pytest.mark.unit


def test_percentiles_of_a_known_uniform_distribution() -> None:
    # 1..100_000 µs in ns: pN is N % of the range, within the histogram's 0.1 % resolution.
    hist = stats.histogram_of(i * 1000 for i in range(1, 100_001))
    pct = stats.percentiles(hist)
    assert pct.count == 100_000
    for got, expected in ((pct.p50, 50e6), (pct.p90, 90e6), (pct.p99, 99e6), (pct.p999, 99.9e6), (pct.max, 100e6)):
        assert got == pytest.approx(expected, rel=1e-3)
    assert pct.mean == pytest.approx(50.0005e6, rel=1e-3)


def test_encode_decode_roundtrip_keeps_every_count() -> None:
    rng = random.Random(1)
    values = [int(rng.lognormvariate(10, 1.5)) for _ in range(5000)]
    hist = stats.histogram_of(values)
    text = stats.encode(hist)
    assert isinstance(text, str) and text.startswith("HISTF")
    again = stats.decode(text)
    assert again.get_total_count() == 5000
    assert stats.percentiles(again) == stats.percentiles(hist)


def test_merge_equals_histogram_of_the_union() -> None:
    rng = random.Random(2)
    parts = [[int(rng.expovariate(1 / (10**k))) + 1 for _ in range(2000)] for k in (3, 5, 7)]
    merged = stats.merge(stats.encode(stats.histogram_of(p)) for p in parts)
    union = stats.histogram_of(v for p in parts for v in p)
    assert stats.percentiles(merged) == stats.percentiles(union)
    # And merging is not averaging: the merged p99 is the tail of the slowest part, not a mean of p99s.
    p99s = [stats.percentiles(stats.histogram_of(p)).p99 for p in parts]
    assert stats.percentiles(merged).p99 != pytest.approx(sum(p99s) / 3, rel=0.05)


def test_out_of_range_values_are_clamped_and_counted() -> None:
    hist = stats.new_histogram()
    assert stats.record(hist, [-5, 10, stats.HIGHEST_NS * 2]) == 2
    assert hist.get_total_count() == 3


def test_decode_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not an HdrHistogram"):
        stats.decode("definitely not a histogram")


def test_empty_histogram_percentiles() -> None:
    pct = stats.percentiles(stats.new_histogram())
    assert pct.count == 0 and math.isnan(pct.mean)


def test_summary_and_spread() -> None:
    s = stats.summarize([10.0, 11.0, 9.0, float("nan")])
    assert (s.n, s.median, s.min, s.max) == (3, 10.0, 9.0, 11.0)
    assert s.spread == pytest.approx(0.2)
    with pytest.raises(ValueError):
        stats.summarize([])


def test_significance_clearly_different_vs_identical() -> None:
    rng = random.Random(3)
    base = [100 + rng.gauss(0, 1) for _ in range(8)]
    slower = [130 + rng.gauss(0, 1) for _ in range(8)]
    different = stats.compare_samples(base, slower, higher_is_better=False)
    assert different.significant
    assert different.verdict == "1.30x slower"
    same = stats.compare_samples(base, [b + rng.gauss(0, 1) for b in base], higher_is_better=False)
    assert not same.significant
    assert same.verdict == "not significant"
    # For a rate, higher is better: a 1.3x higher rate is faster.
    assert stats.compare_samples(base, slower, higher_is_better=True).verdict == "1.30x faster"


def test_significance_needs_enough_repetitions() -> None:
    assert "not enough repetitions" in stats.compare_samples([1, 2], [5, 6, 7], higher_is_better=False).verdict
    # 3 vs 3 clearly separated is decidable with the t-test (a rank test could not go below p = 0.1).
    three = stats.compare_samples([1.0, 1.1, 0.9], [10.0, 11.0, 12.0], higher_is_better=False)
    assert three.significant and three.verdict.endswith("x slower")


def test_format_ratio_and_geometric_mean() -> None:
    assert stats.format_ratio(1.32, higher_is_better=False) == "1.32x slower"
    assert stats.format_ratio(1 / 1.1, higher_is_better=False) == "1.10x faster"
    assert stats.format_ratio(1.001, higher_is_better=False) == "same"
    assert stats.geometric_mean([2.0, 0.5]) == pytest.approx(1.0)
    assert math.isnan(stats.geometric_mean([]))


def test_bootstrap_ci_contains_the_median() -> None:
    values = [10.0, 11.0, 12.0, 10.5, 11.5, 30.0]
    low, high = stats.bootstrap_median_ci(values)
    assert low <= 11.25 <= high
    assert stats.bootstrap_median_ci([1.0, 2.0]) is None


def test_throughput_from_timestamps() -> None:
    # 1000 tasks, one finishing every ms, the first starting at t=0: 1000 tasks in 1 s.
    starts = [i * 1_000_000 for i in range(1000)]
    finishes = [s + 1_000_000 for s in starts]
    assert stats.throughput(starts, finishes) == pytest.approx(1000.0)
    assert stats.throughput([], []) == 0.0


def test_steady_state_excludes_warm_up_and_tail() -> None:
    # A slow warm-up (10 tasks over 1 s), then 1 task per ms: the steady rate is 1000/s, the overall rate much lower.
    finishes = [i * 100_000_000 for i in range(10)] + [1_000_000_000 + i * 1_000_000 for i in range(1000)]
    assert stats.steady_state_throughput(finishes) == pytest.approx(1000.0, rel=1e-3)
    assert stats.throughput([0], finishes) < 600


def test_max_sustainable_rate() -> None:
    points = [
        stats.RatePoint(100, 5e6, 0),
        stats.RatePoint(200, 8e6, 0),
        stats.RatePoint(400, 300e6, 0),  # p99 over the bound
        stats.RatePoint(800, 50e6, 0),  # passes by chance above a failing rate: does not count
    ]
    assert stats.max_sustainable_rate(points, bound_ns=100e6) == 200
    assert stats.max_sustainable_rate([stats.RatePoint(100, 1e6, 3)], bound_ns=100e6) is None


def test_format_ns() -> None:
    assert stats.format_ns(850) == "850 ns"
    assert stats.format_ns(12_345) == "12.3 µs"
    assert stats.format_ns(4_560_000) == "4.56 ms"
    assert stats.format_ns(None) == "–"
