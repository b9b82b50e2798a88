"""Throughput: tasks/s against worker processes, per task and mode."""

from __future__ import annotations

from collections.abc import Sequence

from bench import stats
from bench.report import charts
from bench.report.context import (
    Context,
    failure_note,
    param_values,
)
from bench.report.figures import format_value, value
from bench.report.model import Block, Chart, Heading, Table
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Throughput"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("throughput"):
        mine = [r for r in records if r.profile == profile]
        for task in param_values(mine, "task"):
            for mode in param_values([r for r in mine if r.params.get("task") == task], "mode") or [None]:
                selected = [r for r in mine if r.params.get("task") == task and r.params.get("mode") == mode]
                processes = param_values(selected, "processes")
                rows, series = [], {}
                for backend in ctx.backends(selected):
                    row = [ctx.label(backend)]
                    points = []
                    for p in processes:
                        reps = [r for r in selected if r.backend == backend and r.params.get("processes") == p]
                        values = [v for v in (value(r, "tasks_per_s") for r in reps if r.ok) if v is not None]
                        if values:
                            s = stats.summarize(values)
                            points.append((int(p), s.median, s.min, s.max))
                            lost = sum(v for v in (value(r, "lost") for r in reps if r.ok) if v)
                            row.append(
                                format_value(s.median, "tasks/s")
                                + (f" [{s.min:,.0f}–{s.max:,.0f}]" if s.n > 1 else "")
                                + (f", {lost:.0f} lost" if lost else "")
                            )
                        else:
                            row.append("failed" if reps else "–")
                    rows.append(row)
                    if points:
                        series[ctx.label(backend)] = points
                title = f"Throughput: {task}, {mode} ({profile})"
                blocks.append(Heading(3, title))
                blocks.append(
                    Table(
                        ["backend", *[f"{p} process{'es' if p != 1 else ''}" for p in processes]],
                        rows,
                        "Median tasks/s over repetitions [min–max], from task-side timestamps.",
                    )
                )
                if series:
                    fig = charts.throughput_vs_processes(task, str(mode), series, ctx.caption, ctx.floor_labels())
                    blocks.append(Chart(f"throughput-{profile}-{task}-{mode}", title, fig))
    return blocks + failure_note(ctx, records)
