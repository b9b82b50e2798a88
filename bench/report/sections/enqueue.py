"""Enqueue latency: the producer-side cost of one enqueue call, per task type, and the pytest-benchmark cross-check."""

from __future__ import annotations

from collections.abc import Sequence

from bench import stats
from bench.report import charts
from bench.report.context import (
    Context,
    failure_note,
    histogram_percentiles,
    param_values,
)
from bench.report.derived import median
from bench.report.figures import format_value, histogram_percentile, value
from bench.report.model import Block, Chart, Heading, Table
from bench.report.numbers import duration_ns
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Enqueue latency"


def _microbench_table(ctx: Context, profile: str) -> list[Block]:
    """The pytest-benchmark cross-check of the noop enqueue, when the run has it."""
    records = ctx.results.select(scenario="enqueue_microbench", profile=profile)
    if not records:
        return []
    rows = []
    for backend in ctx.backends(records):
        reps = [r for r in records if r.backend == backend]
        ok = [r for r in reps if r.ok]
        if not ok:
            rows.append([ctx.label(backend), *["failed"] * 4, "; ".join(r.error or "?" for r in reps)])
            continue

        def med(name: str, ok: list[Record] = ok) -> float | None:
            return median([v for v in (value(r, name) for r in ok) if v is not None])

        files = ", ".join(f"`{f}`" for r in ok for f in r.samples.get("json", []))
        mean, std = med("mean_s"), med("stddev_s")
        rows.append(
            [
                ctx.label(backend),
                format_value(None if med("median_s") is None else med("median_s") * 1e9, "ns"),
                format_value(None if med("min_s") is None else med("min_s") * 1e9, "ns"),
                f"{format_value(mean * 1e9, 'ns')} ± {format_value(std * 1e9, 'ns')}" if mean and std else "–",
                f"{med('rounds'):.0f}" if med("rounds") else "–",
                files or "–",
            ]
        )
    return [
        Heading(3, f"Enqueue microbenchmark: noop ({profile})"),
        Table(
            ["backend", "median", "min", "mean ± stddev", "rounds", "pytest-benchmark JSON (beside results.json)"],
            rows,
            "pytest-benchmark of the same noop enqueue call (GC disabled): an independent cross-check of the HDR "
            "numbers above.",
        ),
    ]


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("enqueue"):
        for task in param_values([r for r in records if r.profile == profile and "task" in r.params], "task"):
            selected = [r for r in records if r.profile == profile and r.params.get("task") == task]
            rows, chart_data = [], {}
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                merged = histogram_percentiles(reps, "latency_ns")
                if merged is None:
                    state = "unverified" if backend in ctx.unverified else "failed"
                    rows.append([ctx.label(backend), *[state] * 7])
                    continue
                per_rep = [v for v in (histogram_percentile(r, "latency_ns", "p50") for r in reps if r.ok) if v]
                spread = stats.summarize(per_rep).spread if per_rep else 0.0
                d = merged.as_dict()
                rows.append(
                    [ctx.label(backend)]
                    + [duration_ns(d[k]) for k in ("p50", "p90", "p99", "p99.9", "max")]
                    + [f"{merged.count:,}", f"{len(per_rep)} (p50 ±{spread * 50:.0f} %)"]
                )
                chart_data[ctx.label(backend)] = d
            blocks.append(Heading(3, f"Enqueue latency: {task} ({profile})"))
            blocks.append(
                Table(
                    ["backend", "p50", "p90", "p99", "p99.9", "max", "enqueues", "repetitions"],
                    rows,
                    "Percentiles of all repetitions' histograms merged; ± is half the min–max spread of the "
                    "per-repetition p50 relative to its median.",
                )
            )
            if chart_data:
                fig = charts.enqueue_percentiles(task, chart_data, ctx.caption, ctx.floor_labels())
                blocks.append(Chart(f"enqueue-{profile}-{task}", f"Enqueue latency of {task} ({profile})", fig))
        blocks += _microbench_table(ctx, profile)
    return blocks + failure_note(ctx, records)
