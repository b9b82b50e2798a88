"""Resources: memory of the worker tree idle and under load, CPU per 1,000 tasks."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import charts
from bench.report.context import (
    Context,
    failure_note,
    param_values,
)
from bench.report.derived import median
from bench.report.figures import format_value, value
from bench.report.model import Block, Chart, Heading, Table
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Resources"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("resources"):
        mine = [r for r in records if r.profile == profile]
        rows, chart_rows = [], []
        has_pss = any(value(r, "pss_idle_bytes") is not None for r in mine)
        for backend in ctx.backends(mine):
            for processes in param_values([r for r in mine if r.backend == backend], "processes") or [None]:
                reps = [r for r in mine if r.backend == backend and r.params.get("processes") == processes and r.ok]
                if not reps:
                    continue

                def med(name: str, reps: list[Record] = reps) -> float | None:
                    return median([v for v in (value(r, name) for r in reps) if v is not None])

                row = [ctx.label(backend), str(processes)]
                if has_pss:
                    row += [format_value(med("pss_idle_bytes"), "bytes"), format_value(med("pss_load_bytes"), "bytes")]
                row += [
                    format_value(med("rss_idle_bytes"), "bytes"),
                    format_value(med("rss_load_bytes"), "bytes"),
                    _cpu_text(med("cpu_s_per_1000")),
                ]
                rows.append(row)
                kind = "pss" if has_pss else "rss"
                chart_rows.append(
                    (f"{ctx.label(backend)} ×{processes}", med(f"{kind}_idle_bytes"), med(f"{kind}_load_bytes"))
                )
        if not rows:
            continue
        title = f"Resources ({profile})"
        blocks.append(Heading(3, title))
        headers = ["backend", "processes"]
        if has_pss:
            headers += ["PSS idle", "PSS under load"]
        headers += ["RSS idle", "RSS under load", "CPU per 1000 tasks"]
        blocks.append(
            Table(
                headers,
                rows,
                "All processes of the worker tree together, idle (1 s after the backlog drained) and the peak while "
                "draining the noop backlog; PSS shares pages common to forked processes out fairly (RSS counts them "
                "once per process). CPU = user + system seconds of the tree per 1,000 noop tasks. Medians over "
                "repetitions.",
            )
        )
        blocks.append(
            Chart(
                f"memory-{profile}",
                f"Memory per backend ({profile})",
                charts.memory(chart_rows, ctx.caption, kind="PSS" if has_pss else "RSS"),
            )
        )
    return blocks + failure_note(ctx, records)


def _cpu_text(cpu: float | None) -> str:
    # Draining 1,000 tasks cannot take zero CPU: a 0 means the harness failed to read the workers' CPU time.
    return "0 (not read)" if cpu == 0 else format_value(cpu, "s")
