"""End-to-end latency under load: each offered rate's state, and the maximum sustainable rate."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import answers, charts, derived
from bench.report.context import (
    Context,
    failure_note,
    param_values,
)
from bench.report.derived import median
from bench.report.figures import value
from bench.report.model import Block, Chart, Heading, Table
from bench.report.numbers import duration_ns, rate_text
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "End-to-end latency under load"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("latency"):
        mine = [r for r in records if r.profile == profile]
        for task in param_values(mine, "task") or [None]:
            selected = [r for r in mine if r.params.get("task") == task]
            rows, series, best_rows = [], {}, []
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                states = derived.rate_states(reps, ctx.bound_ns)
                for p in states:
                    lag = median(
                        [
                            v
                            for r in reps
                            if r.params.get("rate") == p.rate
                            for v in [value(r, "max_send_lag_ns")]
                            if v is not None
                        ]
                    )
                    done = rate_text(p.completed_per_s, "").strip()
                    rows.append(
                        [
                            ctx.label(backend),
                            f"{p.rate:g}",
                            rate_text(p.sent_per_s, "").strip(),
                            done if p.completed_exact or done == "–" else f"≥ {done}",
                            duration_ns(p.p50),
                            duration_ns(p.p99),
                            duration_ns(p.finish_p99),
                            f"{p.lost:.0f}",
                            duration_ns(lag),
                            p.state if p.sustained else f"**{p.state}**",
                        ]
                    )
                if states:
                    series[ctx.label(backend)] = [(p.rate, p.p50, p.p99, p.state) for p in states]
                note = (
                    "floor, not ranked"
                    if ctx.is_floor(backend)
                    else "failed verification, not ranked"
                    if backend in ctx.unverified
                    else ""
                )
                failure = derived.first_failure(states)
                best_rows.append(
                    [
                        ctx.label(backend),
                        derived.sustainable_text(states),
                        f"{failure.rate:g}/s: {answers.failure_text(failure)}" if failure else "–",
                        note,
                    ]
                )
            title = f"Latency under load: {task} ({profile})"
            blocks.append(Heading(3, title))
            blocks.append(
                Table(
                    [
                        "backend",
                        "offered/s",
                        "sent/s",
                        "completed/s",
                        "to start p50",
                        "to start p99",
                        "to finish p99",
                        "lost",
                        "producer max lag",
                        "state",
                    ],
                    rows,
                    "Latency from the intended send time; repetitions merged. sent/s: the producer's achieved send "
                    "rate; completed/s: completions per second (≥: a lower bound — completions ÷ (intended send span "
                    "+ spread of the to-finish latencies) — where the record has no measured completion rate). "
                    f"Over the latency bound: p99 to start above {duration_ns(ctx.bound_ns)} while completions kept "
                    "up; saturated: sent/s under 90 % of offered or completed/s under 90 % of sent/s; tasks lost: "
                    "not finished within the drain timeout. Producer max lag: how late the worst send was (it counts "
                    "in the latency).",
                )
            )
            blocks.append(Table(["backend", "maximum sustainable rate", "first rate not sustained", "note"], best_rows))
            if series:
                fig = charts.latency_vs_rate(str(task), series, ctx.bound_ns / 1e6, ctx.caption, ctx.floor_labels())
                blocks.append(Chart(f"latency-{profile}-{task}", title, fig))
    return blocks + failure_note(ctx, records)
