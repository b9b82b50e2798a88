"""The private PostgreSQL cluster, the run's database choice, and a backend verified on PostgreSQL.

Tests that need the server binaries skip without them locally and fail under CI=true, where a skipped database
check would hide a broken PostgreSQL setup.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench import REPO_ROOT
from bench.__main__ import choose_database
from bench.agent import run_agent
from bench.backends import Backend
from bench.errors import ServiceError, UsageError
from bench.services import (
    LOOPBACK,
    ExternalPostgres,
    PostgresServer,
    RedisServer,
    SmtpSink,
    find_postgres_bin,
    free_port,
    postgres_available,
)
from bench.verify import verify_backend

from .test_services import _alive, gone, kill_harness, require_service


def _require_postgres() -> None:
    require_service(postgres_available())


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One private cluster for the tests of this module that only use it."""
    _require_postgres()
    with PostgresServer() as server:
        yield server


def _postgres_processes(base_dir: Path) -> list[int]:
    """Every live process whose command line names this cluster's directory (the supervisor and the postmaster)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(base_dir) in " ".join(proc.info["cmdline"] or []) and _alive(proc.pid):
            found.append(proc.pid)
    return found


# ---------------------------------------------------------------------------------------------------- the cluster


def test_private_cluster_accepts_connections_on_loopback_only(postgres: PostgresServer) -> None:
    import psycopg

    assert postgres.port != 5432
    with psycopg.connect(postgres.url) as conn:
        user, database, address = conn.execute(
            "SELECT current_user, current_database(), host(inet_server_addr())"
        ).fetchone()
    assert (user, database, address) == ("bench", "bench", LOOPBACK)
    postmaster = psutil.Process(postgres.postmaster_pid())
    listening = [c for c in postmaster.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert [(c.laddr.ip, c.laddr.port) for c in listening] == [(LOOPBACK, postgres.port)]
    sockets = [c.laddr for c in postmaster.net_connections(kind="unix")]
    assert sockets and all(Path(s).parent == postgres.base_dir for s in sockets), sockets
    if os.geteuid() == 0:  # initdb refuses root: the cluster runs as the dedicated unprivileged account
        assert {p.username() for p in postgres.process.tree()} == {postgres.user} != {"root"}  # type: ignore[union-attr]


def test_each_database_is_separate_and_created_once(postgres: PostgresServer) -> None:
    import psycopg

    a = postgres.database_url("huey_shipped_perf")
    b = postgres.database_url("huey_tuned_perf")
    assert a != b and postgres.database_url("huey_shipped_perf") == a
    with psycopg.connect(a, autocommit=True) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    with psycopg.connect(b) as conn:
        assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)


def test_bad_database_name_is_refused(postgres: PostgresServer) -> None:
    with pytest.raises(ServiceError, match="bad database name"):
        postgres.database_url('x"; DROP DATABASE bench; --')


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_stop_and_kill_leave_no_process_and_no_directory(how: str) -> None:
    _require_postgres()
    server = PostgresServer().start()
    import psycopg

    with psycopg.connect(server.url):  # a backend process of the server too
        pids = server.process.pids()  # type: ignore[union-attr]
        assert len(pids) >= 3
    base = server.base_dir
    assert base is not None and base.is_dir()
    getattr(server, how)()
    assert gone(pids), f"left running: {[p for p in pids if _alive(p)]}"
    assert not base.exists()


HARNESS = textwrap.dedent(
    """
    import json, time
    import psycopg
    from bench.services import PostgresServer
    server = PostgresServer().start()
    conn = psycopg.connect(server.url)  # a session open, as a worker would hold one
    print(json.dumps({"pids": server.process.pids(), "dir": str(server.base_dir)}), flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_harness_killed_leaves_no_postgres(signum: int) -> None:
    """Even a SIGKILLed harness leaves no server and no cluster directory (the parent-death signal reaches the
    supervisor, which shuts PostgreSQL down and removes the directory)."""
    _require_postgres()
    started = kill_harness(HARNESS, signum)
    assert not _postgres_processes(Path(started["dir"]))


@pytest.mark.unit
def test_missing_binaries_are_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError) as caught:
        find_postgres_bin(lib_dir=tmp_path)
    assert "initdb" in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------------------------------------------- the run's choice


@pytest.mark.unit
def test_database_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_database("sqlite", None) == ("sqlite", None)
    assert choose_database(None, "postgres://u@127.0.0.1/x") == ("postgres", None)
    with pytest.raises(UsageError):
        choose_database("sqlite", "postgres://u@127.0.0.1/x")
    monkeypatch.setattr("bench.__main__.postgres_available", lambda: "initdb not found")
    assert choose_database(None, None) == ("sqlite", "initdb not found")  # the default falls back, with the reason
    with pytest.raises(ServiceError, match="initdb not found"):
        choose_database("postgres", None)  # an explicit request does not


@pytest.mark.unit
def test_non_postgres_url_is_refused() -> None:
    with pytest.raises(ServiceError, match="PostgreSQL URL"):
        ExternalPostgres("mysql://u@127.0.0.1/x")


@pytest.mark.unit
def test_unreachable_database_url_fails_fast_with_one_line(tmp_path: Path) -> None:
    url = f"postgres://nobody@{LOOPBACK}:{free_port()}/nothing"
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--preset", "smoke", "--backends", "huey", "--database-url", url,
         "--out", str(tmp_path / "out"), "--no-report"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "unreachable" in lines[0] and "nothing" in lines[0], done.stderr
    assert not (tmp_path / "out" / "results.json").exists()  # no session ran
    assert time.monotonic() - t0 < 60


# ---------------------------------------------------------------------------------------------------- a backend on it


def test_celery_verifies_on_the_private_postgres(
    postgres: PostgresServer,
    redis_server: RedisServer,
    smtp_sink: SmtpSink,
    backends: dict[str, Backend],
    tmp_path: Path,
) -> None:
    """Celery's shop tasks and its django-db result rows on PostgreSQL, checked end to end; Django confirms it."""
    backend = backends["celery"]
    url = postgres.database_url("celery_verify")
    report = verify_backend(
        backend, redis=redis_server, smtp=smtp_sink, workdir=tmp_path, processes=2, database_url=url
    )
    assert report.passed, report.summary()
    env = backend.environment(redis_url=redis_server.url, var_dir=tmp_path / "celery" / "var", database_url=url)
    used = run_agent(backend, env, "database", {}, timeout=120)
    assert used["vendor"] == "postgresql" and used["name"] == "celery_verify"
    assert used["version"].split(".")[0] == postgres.version().split(".")[0]
    assert not (tmp_path / "celery" / "var" / "db.sqlite3").exists()


def test_agent_reports_sqlite_when_no_url(redis_server: RedisServer, backends: dict[str, Backend], tmp_path: Path):
    backend = backends["huey"]
    env = backend.environment(redis_url=redis_server.url, var_dir=tmp_path)
    used = run_agent(backend, env, "database", {}, timeout=120)
    assert used["vendor"] == "sqlite" and used["name"] == str(tmp_path.resolve() / "db.sqlite3")


@pytest.mark.unit
def test_shop_checks_its_database_url_first(tmp_path: Path) -> None:
    url = f"postgres://nobody@{LOOPBACK}:{free_port()}/nothing"
    done = subprocess.run(
        [sys.executable, "-m", "bench.shop", "--backend", "huey", "--database-url", url, "--var-dir", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: PostgreSQL at {url} is unreachable: Connection refused"]


@pytest.mark.unit
def test_statement_count_parses_the_server_log() -> None:
    from bench.db_statements import count

    log = "\n".join(
        [
            "|celery_count|101|LOG:  connection authorized: user=bench database=celery_count",
            "worker|celery_count|101|LOG:  statement: SELECT set_config('TimeZone', 'UTC', false)",
            "worker|celery_count|101|LOG:  statement: BEGIN",
            "worker|celery_count|101|LOG:  statement: INSERT INTO t (v) VALUES ('it''s', 42)",
            "worker|celery_count|101|LOG:  statement: COMMIT",
            "producer|celery_count|102|LOG:  statement: UPDATE t SET v = 'x'",  # autocommit: a write commit
            'producer|celery_count|102|LOG:  statement: SAVEPOINT "s1400_x21"',
            "worker|other_db|103|LOG:  statement: DELETE FROM t",  # another database: not counted
        ]
    )
    counts = count(log, "celery_count")
    worker, producer = counts["worker"], counts["producer"]
    assert (worker["connections"], worker["statements"], worker["write_commits"], worker["INSERT"]) == (1, 4, 1, 1)
    assert worker["sql: INSERT INTO t (v) VALUES (?, ?)"] == 1
    assert (producer["connections"], producer["write_commits"], producer['sql: SAVEPOINT "<savepoint>"']) == (0, 1, 1)
    assert "DELETE" not in worker


def test_external_postgres_creates_its_databases_next_to_the_given_one_and_drops_them(
    postgres: PostgresServer,
) -> None:
    """--database-url: checked, per-session databases beside the given one, dropped at the end (here the private
    cluster plays the user's server)."""
    import psycopg

    external = ExternalPostgres(postgres.url).start()
    url = external.database_url("Celery-shipped_perf")
    assert url.endswith("/bench_celery_shipped_perf")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("bench_celery_shipped_perf",)
    assert external.describe()["private"] is False
    external.cleanup()
    with psycopg.connect(postgres.url) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
    assert "bench_celery_shipped_perf" not in names and "bench" in names  # the given database stays


@pytest.mark.unit
def test_compare_warns_when_the_database_differs() -> None:
    from bench.environment import compare_environments

    sqlite_old = {"cpu_count": 2}  # a results file from before the database was recorded: SQLite
    sqlite_new = {"cpu_count": 2, "database": {"engine": "sqlite", "version": "3.40.1", "private": True}}
    pg = {"cpu_count": 2, "database": {"engine": "postgresql", "version": "15.20 (Debian 15.20-0+deb12u1)"}}
    pg16 = {"cpu_count": 2, "database": {"engine": "postgresql", "version": "16.4"}}
    assert not [w for w in compare_environments(sqlite_old, sqlite_new) if "database" in w]
    assert [w for w in compare_environments(sqlite_new, pg) if "database" in w] == [
        "database differs: sqlite 3.40.1 vs postgresql 15.20"
    ]
    assert [w for w in compare_environments(pg, pg16) if "database" in w] == [
        "database differs: postgresql 15.20 vs postgresql 16.4"
    ]
