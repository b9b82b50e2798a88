"""What each backend asks of Django's database per task, counted (``db_statements`` records, bench/db_statements.py).

Counts, not timings: they explain the throughput differences between profiles (a result row per task, a new
connection per task) and between database engines.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import derived
from bench.report.context import Context, failure_note
from bench.report.derived import median
from bench.report.figures import value
from bench.report.model import Block, Table
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Database statements per task"


def _count(records: Sequence[Record], name: str) -> str:
    found = median([v for v in (value(r, name) for r in records) if v is not None])
    if found is None:
        return "–"
    return f"{derived.per_task_count(found):.1f}"


def _shapes(text: object, width: int = 60) -> str:
    """The recorded statement shapes ('1 × INSERT INTO …; 2 × SELECT …'), each cut to ``width`` characters."""
    if not text:
        return "–"
    return "; ".join(part if len(part) <= width else part[: width - 1] + "…" for part in str(text).split("; "))


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """Per backend and profile: statements, write commits and new connections per noop task, by side, and what the
    worker side sends most often."""
    rows = []
    counted_on = ""
    for backend in ctx.backends(records):
        for profile in ctx.profiles():
            reps = [r for r in records if r.backend == backend and r.profile == profile and r.ok]
            if not reps:
                same = derived.same_profile(ctx.results, backend, profile)
                if same is not None and any(r.backend == backend and r.profile == same[0] for r in records):
                    rows.append([ctx.label(backend), profile, f"same as {same[0]}", "", "", "", "", ""])
                continue
            counted_on = counted_on or str(reps[0].notes.get("counted_on") or "")
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    _count(reps, "statements"),
                    f"{_count(reps, 'producer_statements')} / {_count(reps, 'worker_statements')}",
                    _count(reps, "write_commits"),
                    _count(reps, "connections"),
                    _shapes(reps[0].notes.get("producer_sql")),
                    _shapes(reps[0].notes.get("worker_sql")),
                ]
            )
    return [
        Table(
            [
                "backend",
                "profile",
                "statements per task",
                "enqueue / worker side",
                "write commits",
                "new connections",
                "enqueue side sends (per task)",
                "worker side sends (per task)",
            ],
            rows,
            "Per noop task, after subtracting an idle window of the same length (pollers, heartbeats)"
            + (f"; counted on {counted_on}" if counted_on else "")
            + ". A write commit waits for its WAL flush; a statement outside BEGIN … COMMIT commits on its own.",
        ),
        *failure_note(ctx, records),
    ]
