"""Which layer causes a fault finding: the attribution read back against the raw values of a committed run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import layers
from bench.report.context import make_context
from bench.results import load_results

#: A committed run of the fault scenarios in both the bare and the shipped profile, every backend.
RUN = Path(__file__).resolve().parent.parent / "results" / "2026-12-05T21-03-19Z-0bfe0db" / "results.json"


def _raw_classes(values: dict[str, object]) -> tuple[str, ...]:
    """Outcome classes straight from a fault record's counts (independent of bench.report.facts)."""
    found = tuple(k for k in ("gone", "stranded", "failed", "duplicated") if values.get(k))
    return found or ("all completed",)


@pytest.mark.unit
def test_a_finding_is_the_integrations_exactly_when_its_outcome_classes_differ() -> None:
    results = load_results(RUN)
    ctx = make_context(results)
    rows = layers.attributions(ctx)
    backends = {r.backend for r in rows}
    # Every backend whose bare is its own configuration ran both profiles; the ones declared the same ran once.
    assert backends == {"celery", "djangoq", "dramatiq"}
    for backend in backends:
        for kind in ("sigkill", "sigterm", "redis_restart"):
            by_profile = {
                r.profile: _raw_classes(r.values)
                for r in results.select(scenario="faults", backend=backend)
                if r.params.get("kind") == kind and r.params.get("persistence") in (None, "none") and r.ok
            }
            row = next(r for r in rows if r.backend == backend and r.fault.lower().startswith(kind.split("_")[0][:5]))
            assert row.differs == (by_profile["bare"] != by_profile["shipped"]), (backend, kind, by_profile)
    transaction = {r.backend: r for r in rows if r.fault == "In a transaction"}
    started_before = {
        (r.backend, r.profile): r.values["started_before_transaction_end"]
        for r in results.select(scenario="faults")
        if r.params == {"kind": "transaction", "mode": "commit_late"} and r.backend in backends
    }
    for backend, row in transaction.items():
        assert row.differs == (started_before[(backend, "bare")] != started_before[(backend, "shipped")])
    # The run's one integration finding is said in the Answers, by name.
    lines = layers.layer_lines(ctx)
    assert [line.split("**")[1] for line in lines] == [ctx.label(b) for b, r in transaction.items() if r.differs]
