"""Any scenario this package has no section for: every numeric value's median per measurement."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.context import (
    Context,
    _failure_note,
    _median,
    _params_text,
)
from bench.report.metrics import metrics_for, value
from bench.report.model import Block, Table
from bench.results import Record


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """Any scenario: one row per (backend, profile, params), each numeric value's median over repetitions."""
    metrics = metrics_for(records[0].scenario if records else "", records)
    names = list(dict.fromkeys(k for r in records for k, v in r.values.items() if isinstance(v, int | float)))
    rows = []
    for key, reps in sorted(ctx.results.groups(scenario=records[0].scenario).items() if records else []):
        backend, profile = key[0], key[1]
        ok = [r for r in reps if r.ok]
        row = [ctx.label(backend), profile, _params_text(reps[0].params) or "–", str(len(ok))]
        for name in names:
            med = _median([v for v in (value(r, name) for r in ok) if v is not None])
            row.append("–" if med is None else f"{med:.4g}")
        rows.append(row)
    del metrics  # the registry only decides comparisons; tables show every value
    return [
        Table(["backend", "profile", "params", "repetitions", *names], rows, "Medians over ok repetitions."),
        *_failure_note(ctx, records),
    ]
