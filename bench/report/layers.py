"""Which layer causes a fault finding: the queue library itself, or its Django integration.

A backend's ``bare`` profile runs the library alone (no Django result store, no integration middleware); ``shipped``
runs it as its Django integration's docs set it up. When a fault's outcome *class* (tasks gone, stranded, failed,
duplicated; for a transaction: ran before or after the commit, rolled-back task run or not) is the same in both, the
finding is the library's; when it differs, the integration changes it. Counts are not compared: they move with
timing from run to run, the classes do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.context import Context
from bench.report.facts import FaultOutcome, fault_outcome, fault_short_label, premise_not_met, transaction_facts
from bench.report.model import Block, Paragraph, Table

#: The two profiles compared, library first.
LIBRARY, INTEGRATION = "bare", "shipped"
#: Fault kinds without tasks at risk (no outcome classes) or with their own comparison.
_NOT_COMPARED = ("redis_down_enqueue", "rabbitmq_down_enqueue", "transaction")


@dataclass(frozen=True)
class Attribution:
    """One backend × fault seen in both profiles: what each showed and which layer the finding belongs to."""

    backend: str
    fault: str
    library: str
    integration: str
    differs: bool


def _classes(outcome: FaultOutcome) -> tuple[str, ...]:
    """The outcome classes a fault left (its finding), without the counts."""
    found = [
        name
        for name, count in (
            ("gone", outcome.gone or outcome.lost),
            ("stranded", outcome.stranded),
            ("failed", outcome.failed),
            ("duplicated", outcome.duplicated),
        )
        if count
    ]
    if outcome.runs_max is not None and outcome.runs_max > 1:
        found.append("run twice")
    return tuple(found) or ("all completed",)


def _fault_findings(ctx: Context, profile: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(backend, fault column title) → outcome classes of the first ok record with its premise met."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for r in sorted(ctx.results.select(scenario="faults", profile=profile), key=lambda r: r.repetition):
        kind = str(r.params.get("kind"))
        if ctx.is_floor(r.backend) or kind in _NOT_COMPARED or premise_not_met(r) is not None:
            continue
        outcome = fault_outcome(r)
        if outcome is None:
            continue
        title = fault_short_label(kind, r.params.get("persistence"), r.params)
        found.setdefault((r.backend, title), _classes(outcome))
    return found


def _transaction_findings(ctx: Context, profile: str) -> dict[str, tuple[str, ...]]:
    """backend → the scorecard's words for the late commit and the rollback (without on_commit)."""
    modes: dict[str, dict[str, str]] = {}
    for r in sorted(ctx.results.select(scenario="faults", profile=profile), key=lambda r: r.repetition):
        if r.params.get("kind") != "transaction" or ctx.is_floor(r.backend):
            continue
        facts = transaction_facts(r)
        if facts is not None and facts.mode in ("commit_late", "rollback"):
            modes.setdefault(r.backend, {}).setdefault(facts.mode, facts.short())
    return {b: tuple(m[k] for k in ("commit_late", "rollback") if k in m) for b, m in modes.items()}


def attributions(ctx: Context) -> list[Attribution]:
    """Every backend × fault measured in both ``bare`` and ``shipped``, in backend then fault order."""
    rows: list[Attribution] = []
    library, integration = _fault_findings(ctx, LIBRARY), _fault_findings(ctx, INTEGRATION)
    for key in [k for k in library if k in integration]:
        a, b = library[key], integration[key]
        rows.append(Attribution(key[0], key[1], ", ".join(a), ", ".join(b), a != b))
    tx_library, tx_integration = _transaction_findings(ctx, LIBRARY), _transaction_findings(ctx, INTEGRATION)
    title = fault_short_label("transaction", None)
    for backend in [b for b in tx_library if b in tx_integration]:
        a, b = tx_library[backend], tx_integration[backend]
        rows.append(Attribution(backend, title, " · ".join(a), " · ".join(b), a != b))
    order = {b: i for i, b in enumerate(ctx.backends(ctx.results.records))}
    return sorted(rows, key=lambda row: order.get(row.backend, len(order)))


def layer_lines(ctx: Context) -> list[str]:
    """One sentence per backend whose integration changes a fault finding (empty when none, or not measured)."""
    lines = []
    by_backend: dict[str, list[Attribution]] = {}
    for row in attributions(ctx):
        if row.differs:
            by_backend.setdefault(row.backend, []).append(row)
    for backend, rows in by_backend.items():
        parts = "; ".join(f"{r.fault}: *{r.library}* (library alone) vs *{r.integration}* (shipped)" for r in rows)
        lines.append(
            f"**{ctx.label(backend)}**: its Django integration changes the outcome, not the library — {parts}."
        )
    return lines


def details(ctx: Context) -> list[Block]:
    """The library-or-integration table, when the run has faults in both profiles."""
    rows = attributions(ctx)
    if not rows:
        return []
    same = sum(not r.differs for r in rows)
    table = Table(
        ["backend", "fault", f"library alone ({LIBRARY})", f"with its Django integration ({INTEGRATION})", "layer"],
        [
            [
                ctx.label(r.backend),
                r.fault,
                r.library,
                r.integration,
                "**the Django integration**" if r.differs else "the library",
            ]
            for r in rows
        ],
        f"Outcome classes of each fault, counts left out (they vary with timing, the classes do not): same in both "
        f"profiles ({same} of {len(rows)}) = the library's own behaviour; different = the integration's doing.",
    )
    return [
        Paragraph(
            "**Which layer causes it.** The fault suite ran in the `bare` profile too (the library alone, without its "
            "Django integration's result store and middleware):"
        ),
        table,
    ]
