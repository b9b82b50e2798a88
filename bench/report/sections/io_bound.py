"""IO-bound throughput: invoice emails per second with the SMTP hop far away, per concurrency model."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from bench.report.context import Context, failure_note
from bench.report.model import Block, Paragraph, Table
from bench.report.numbers import bytes_text, rate_text, ratio_text
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "IO-bound work: invoice emails with a distant SMTP server"
#: The profile whose gain is shown, and the one it is compared with.
IO_PROFILE, BASE_PROFILE = "io", "shipped"


def median_of(records: Sequence[Record], key: str) -> float | None:
    """The median of ``key`` over the records that have it (None: none has)."""
    values = [float(v) for r in records if isinstance(v := r.values.get(key), int | float)]
    return statistics.median(values) if values else None


def worker_command(ctx: Context, backend: str, profile: str) -> str:
    """The worker command line of ``backend`` in ``profile`` (the executable's name only), as the run recorded it."""
    entry = (ctx.results.backends.get(backend) or {}).get("profiles", {}).get(profile) or {}
    argv = list(entry.get("worker_argv") or [])
    if entry.get("same_as"):
        return f"same as {entry['same_as']}"
    return " ".join([Path(argv[0]).name, *argv[1:]]) if argv else "?"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    cores = ctx.cores
    rows = []
    for network in sorted({str(r.network.get("name")) for r in records}):
        here = [r for r in records if r.network.get("name") == network]
        for backend in ctx.backends(here):
            rates: dict[str, float | None] = {}
            for profile in ctx.scenario_profiles("io_bound"):
                mine = [r for r in here if r.backend == backend and r.profile == profile and r.ok]
                if not mine:
                    continue
                rate = rates[profile] = median_of(mine, "tasks_per_s")
                smtp = [r.values.get("smtp_rtt") for r in mine]
                measured = [s["added_p50_ms"] for s in smtp if isinstance(s, dict)]
                per_task = median_of(mine, "rss_per_task_in_flight_bytes")
                pss_per_task = median_of(mine, "pss_per_task_in_flight_bytes")
                base = rates.get(BASE_PROFILE)
                rows.append(
                    [
                        ctx.label(backend),
                        profile,
                        f"{network} (SMTP +{statistics.median(measured):.1f} ms)" if measured else network,
                        worker_command(ctx, backend, profile),
                        f"{median_of(mine, 'peak_in_flight') or 0:.0f}",
                        rate_text(rate),
                        rate_text(rate / cores) if rate and cores else "–",
                        bytes_text(per_task),
                        bytes_text(pss_per_task),
                        ratio_text(rate / base) if profile == IO_PROFILE and rate and base else "–",
                    ]
                )
    return [
        Table(
            [
                "backend",
                "profile",
                "network (SMTP round trip added, measured)",
                "worker",
                "peak in flight",
                "tasks/s",
                f"per core ({cores or '?'})",
                "RSS per task in flight",
                "PSS per task in flight",
                f"{IO_PROFILE} / {BASE_PROFILE}",
            ],
            rows,
            "send_invoice_email confirmed done per second with the SMTP hop at the network's round trip: waiting, "
            "as in production. `io` runs each library's documented way to run many waiting tasks per core (threads, "
            "or more processes where the library has none); RSS per task in flight = the worker tree's RSS p50 / "
            "the most tasks seen running at once.",
        ),
        *same_notes(ctx, records),
        *failure_note(ctx, records),
    ]


def same_notes(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """A line per backend whose io profile is declared the same as another (measured there, not twice)."""
    lines = []
    for backend in ctx.backends(records):
        entry = (ctx.results.backends.get(backend) or {}).get("profiles", {}).get(IO_PROFILE) or {}
        if entry.get("same_as"):
            lines.append(f"{ctx.label(backend)}: {IO_PROFILE} same as {entry['same_as']} — {entry.get('same_reason')}")
    return [Paragraph(" ".join(lines))] if lines else []
