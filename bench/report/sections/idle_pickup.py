"""Idle pickup: enqueue → start after the workers had been idle."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench.report.context import (
    Context,
    failure_note,
    param_values,
)
from bench.report.figures import flat_samples
from bench.report.model import Block, Table
from bench.report.numbers import duration_ns
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Idle pickup latency"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows = []
    for profile in ctx.scenario_profiles("idle_pickup"):
        mine = [r for r in records if r.profile == profile]
        for idle in param_values(mine, "idle_s"):
            for backend in ctx.backends(mine):
                reps = [r for r in mine if r.backend == backend and r.params.get("idle_s") == idle and r.ok]
                samples = [v for r in reps for v in flat_samples(r.samples.get("pickup_ns"))]
                if not samples:
                    continue
                rows.append(
                    [
                        ctx.label(backend),
                        profile,
                        f"{idle:g} s",
                        str(len(samples)),
                        duration_ns(statistics.median(samples)),
                        duration_ns(min(samples)),
                        duration_ns(max(samples)),
                    ]
                )
    return [
        Table(
            ["backend", "profile", "idle for", "samples", "median", "min", "max"],
            rows,
            "Enqueue call → task start, after the workers had been idle.",
        ),
        *failure_note(ctx, records),
    ]
