"""The database floor runs on the run's own database engine, and a run whose floor did not is flagged in its report."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.backends import get_backends
from bench.report.content import floor_database_caveat
from bench.results import load_results
from bench.runner import RunContext

pytestmark = pytest.mark.unit

RESULTS = Path(__file__).resolve().parent.parent / "results"
#: A committed PostgreSQL run made before the database floor was given a database URL (its floor ran on SQLite).
BEFORE_THE_FIX = RESULTS / "2026-12-05T23-11-16Z-44b1ba8" / "results.json"


class _Cluster:
    """Stands in for the run's PostgreSQL service: only the URL it would hand out is read here."""

    def database_url(self, name: str) -> str:
        return f"postgresql://bench@127.0.0.1:1/{name}"


def test_the_database_floor_gets_the_runs_database_and_the_redis_floor_none() -> None:
    backends = {b.name: b for b in get_backends(with_baseline=True)}
    ctx = RunContext.__new__(RunContext)  # only its database is read: no services started
    ctx.database = _Cluster()
    assert ctx.database_url(backends["db-baseline"], "db-baseline_shipped_perf").endswith("db_baseline_shipped_perf")
    assert ctx.database_url(backends["tasks_db"], "tasks_db_shipped_perf") is not None
    assert ctx.database_url(backends["redis-baseline"], "redis-baseline_shipped_perf") is None


def test_a_postgresql_run_whose_floor_ran_on_sqlite_says_so() -> None:
    before = load_results(BEFORE_THE_FIX)
    caveat = floor_database_caveat(before)
    assert caveat is not None and "ran on SQLite" in caveat
    database = dict(before.environment["database"])
    fixed = dataclasses.replace(
        before,
        environment={**before.environment, "database": database | {"floors": {"var-db": {"engine": "postgresql"}}}},
    )
    assert floor_database_caveat(fixed) is None
    on_sqlite = dataclasses.replace(before, environment={**before.environment, "database": {"engine": "sqlite"}})
    assert floor_database_caveat(on_sqlite) is None
