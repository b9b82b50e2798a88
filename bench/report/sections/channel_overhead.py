"""The measurement channel's own cost, against the time a worker spends per noop task."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.context import (
    Context,
    failure_note,
)
from bench.report.derived import median
from bench.report.figures import value
from bench.report.model import Block, Table
from bench.report.numbers import duration_ns
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Measurement channel overhead"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """The channel's cost per event, and its share of a noop task at the measured throughput."""
    rows = []
    for profile in ctx.scenario_profiles("channel_overhead"):
        for backend in ctx.backends([r for r in records if r.profile == profile]):
            reps = [r for r in records if r.backend == backend and r.profile == profile and r.ok]
            if not reps:
                continue
            p50 = median([v for v in (value(r, "write_ns_p50") for r in reps) if v is not None])
            p99 = median([v for v in (value(r, "write_ns_p99") for r in reps) if v is not None])
            per_task, share = _channel_share(ctx, backend, profile, p50)
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    duration_ns(p50),
                    duration_ns(p99),
                    duration_ns(2 * p50) if p50 is not None else "–",
                    per_task,
                    share,
                ]
            )
    return [
        Table(
            [
                "backend",
                "profile",
                "write p50",
                "write p99",
                "per task (2 events)",
                "noop task time per worker process",
                "channel share",
            ],
            rows,
            "One event = one os.write of a short line to an O_APPEND file, timed in a process with the backend's "
            "environment. Every task writes two (start, finish). Noop task time per worker process = worker "
            "processes ÷ noop backlog throughput at that process count; the share is the two writes' p50 against it.",
        ),
        *failure_note(ctx, records),
    ]


def _channel_share(ctx: Context, backend: str, profile: str, write_ns: float | None) -> tuple[str, str]:
    throughput = [
        r
        for r in ctx.results.select(backend=backend, profile=profile, scenario="throughput", params={"task": "noop"})
        if r.ok and r.params.get("mode") == "backlog" and value(r, "tasks_per_s")
    ]
    if not throughput or write_ns is None:
        return "–", "–"
    processes = ctx.default_processes
    at = [r for r in throughput if r.params.get("processes") == processes] or throughput
    p = at[0].params.get("processes") or 1
    tps = median([value(r, "tasks_per_s") or 0.0 for r in at]) or 0.0
    if not tps:
        return "–", "–"
    per_task_ns = float(p) / tps * 1e9
    return (
        f"{duration_ns(per_task_ns)} ({p} processes, {tps:,.0f} tasks/s)",
        f"{2 * write_ns / per_task_ns * 100:.2g} %",
    )
