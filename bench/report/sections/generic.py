"""Any scenario this package has no section for: its figures' medians per measurement.

Its figures are the ones its declaration names (``figures`` in ``bench/scenarios/registry.py``), else the ones
registered for it in :data:`bench.report.figures.FIGURES`, else one per numeric value of its records (a record of a
scenario this harness no longer has).
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.context import Context, failure_note, params_text
from bench.report.derived import median
from bench.report.figures import FIGURES, Figure, figures_for
from bench.report.model import Block, Table
from bench.results import Record
from bench.scenarios import REGISTRY


def scenario_figures(scenario: str, records: Sequence[Record]) -> list[Figure]:
    """The figures a generic section shows for ``scenario``."""
    declared = REGISTRY[scenario].figures if scenario in REGISTRY else ()
    known = [FIGURES[name] for name in declared if name in FIGURES]
    return known or figures_for(scenario, records)


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """Any scenario: one row per (backend, profile, params), each figure's median over repetitions."""
    scenario = records[0].scenario if records else ""
    figures = scenario_figures(scenario, records)
    rows = []
    for key, reps in sorted(ctx.results.groups(scenario=scenario).items() if records else []):
        backend, profile = key[0], key[1]
        ok = [r for r in reps if r.ok]
        row = [ctx.label(backend), profile, params_text(reps[0].params) or "–", str(len(ok))]
        row += [figure.text(median(figure.per_repetition(ok))) for figure in figures]
        rows.append(row)
    return [
        Table(
            ["backend", "profile", "params", "repetitions", *(f.label for f in figures)],
            rows,
            "Medians over ok repetitions.",
        ),
        *failure_note(ctx, records),
    ]
