"""The ``bare`` profile: each library without its Django result store or admin middleware, on real workers.

- A backend that declares ``bare`` the same configuration as another profile (backend.toml ``[profiles.bare]``)
  really configures the same: the same non-default settings and the same worker command line, from its settings
  module (agent ``bench_settings``). A backend that declares nothing really configures something else.
- Every backend whose ``bare`` differs from ``shipped`` passes the shop's verification in ``bare`` with its real
  workers, every succeeded shop task confirmed (the library's own "done" event, ``C``), and its integration's
  per-task database rows are counted: none in ``bare``, one per task in ``shipped``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from bench.agent import run_agent
from bench.backends import Backend, load_backends
from bench.channel_wait import ChannelWatcher
from bench.runner import ProducerClient
from bench.services import ManagedProcess, RedisServer, SmtpSink
from bench.verify import verify_backend
from shop.channel import CONFIRMED, FINISHED, read_events

REPO = Path(__file__).resolve().parent.parent
BACKENDS = [b for b in load_backends().values() if b.django]
#: The backends whose bare profile is a configuration of its own (not declared the same as shipped).
BARE_DIFFERS = [b for b in BACKENDS if getattr(b.same_as("bare"), "same_as", None) != "shipped"]
#: The table where each of those integrations writes a row per task in ``shipped`` (the result store / admin rows).
INTEGRATION_TABLES = {
    "celery": "django_celery_results_taskresult",  # django-celery-results' TaskResult (result_backend django-db)
    "dramatiq": "django_dramatiq_task",  # django_dramatiq's AdminMiddleware Task rows
    "djangoq": "django_q_task",  # django-q2's Success rows (a proxy of Task), saved by the monitor
}
NOOPS = 10


def _settings(backend: Backend, redis: RedisServer, tmp_path: Path, profile: str) -> list[tuple[str, str, str]]:
    env = backend.environment(redis_url=redis.url, var_dir=tmp_path / f"var-{profile}", profile=profile)
    found = run_agent(backend, env, "bench_settings", {}, timeout=120)
    return sorted((s["setting"], repr(s["value"]), repr(s["default"])) for s in found)


def test_the_three_integrations_with_a_store_have_a_bare_of_their_own() -> None:
    assert {b.name for b in BARE_DIFFERS} >= set(INTEGRATION_TABLES)
    assert all(b.same_as("bare") is not None for b in BACKENDS if b.name not in INTEGRATION_TABLES)


@pytest.mark.parametrize("profile", ["bare", "io"])
@pytest.mark.parametrize("backend", BACKENDS, ids=[b.name for b in BACKENDS])
def test_declared_same_profiles_configure_the_same(
    backend: Backend, profile: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    mine = _settings(backend, redis_server, tmp_path, profile)
    same = backend.same_as(profile)
    target = same.same_as if same is not None else "shipped"
    other = _settings(backend, redis_server, tmp_path, target)
    argv = backend.worker_argv(2, profile), backend.worker_argv(2, target)
    if same is not None:
        assert mine == other, f"{backend.name}: {profile} is declared the same as {target} but its settings differ"
        assert argv[0] == argv[1]
    else:
        assert (mine, argv[0]) != (other, argv[1]), f"{backend.name}: {profile} equals shipped: declare it"


def _count_rows(backend: Backend, env: dict[str, str], table: str) -> int:
    """Rows of ``table`` in the backend's database (0 when the app that owns it is not installed: no table)."""
    code = (
        "from django.db import connection\n"
        f"tables = connection.introspection.table_names()\n"
        f"if {table!r} not in tables: print('rows=0')\n"
        "else:\n"
        "    with connection.cursor() as c:\n"
        f"        c.execute('SELECT COUNT(*) FROM {table}')\n"
        "        print(f'rows={c.fetchone()[0]}')\n"
    )
    done = subprocess.run(
        backend.manage_argv("shell", "-c", code),
        cwd=backend.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r"rows=(\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    return int(found.group(1))


def _noops_confirmed_and_rows(backend: Backend, profile: str, redis: RedisServer, base: Path) -> int:
    """Run noops on the real workers in ``profile``, wait until each is confirmed (``C``), return the rows the
    integration wrote (beyond those there before the noops)."""
    redis.flushall()
    for sub in ("var", "channel", "logs"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    env = backend.environment(redis_url=redis.url, var_dir=base / "var", channel_dir=base / "channel", profile=profile)
    env["BENCH_QUEUE_MODULE"] = backend.queue_module
    run_agent(backend, env, "prepare", {"demo": False}, timeout=300)
    table = INTEGRATION_TABLES[backend.name]
    before = _count_rows(backend, env, table)
    producer = ProducerClient(env, REPO, base / "logs" / "producer.log")
    worker = ManagedProcess(
        backend.worker_argv(2, profile),
        env=env | backend.worker_env(2),
        cwd=backend.project_dir,
        log_path=base / "logs" / "worker.log",
        name=f"{backend.name} worker",
    )
    try:
        worker.start()
        producer.call("produce", task="noop", args=[[] for _ in range(NOOPS)], prefix="n-")
        probes = [f"n-{i}" for i in range(NOOPS)]
        watcher = ChannelWatcher(str(base / "channel"))
        assert watcher.wait_for(probes, ("confirms",), timeout_s=90, alive=worker.alive), worker.log_tail(10)
    finally:
        worker.stop(timeout=30)
        producer.close()
    return _count_rows(backend, env, table) - before


@pytest.mark.slow
@pytest.mark.parametrize("backend", BARE_DIFFERS, ids=[b.name for b in BARE_DIFFERS])
def test_bare_runs_the_shop_confirmed_and_without_the_integrations_rows(
    backend: Backend, redis_server: RedisServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    report = verify_backend(backend, redis=redis_server, smtp=smtp_sink, workdir=tmp_path / "verify", profile="bare")
    assert report.passed, report.format()
    # Every task that finished (the shop's tasks and the readiness noop) was confirmed by the library's own "done"
    # hook by the time verification stopped the workers (read afterwards: a C may follow the check's snapshot).
    events = list(read_events(tmp_path / "verify" / backend.name / "channel"))
    finished = {e.probe for e in events if e.kind == FINISHED}
    confirmed = {e.probe for e in events if e.kind == CONFIRMED}
    assert len(finished) >= 5, finished
    assert finished <= confirmed, f"finished, never confirmed in bare: {sorted(finished - confirmed)}"

    bare = _noops_confirmed_and_rows(backend, "bare", redis_server, tmp_path / "bare")
    shipped = _noops_confirmed_and_rows(backend, "shipped", redis_server, tmp_path / "shipped")
    print(
        f"\n{backend.name}: {INTEGRATION_TABLES[backend.name]} rows for {NOOPS} noops: bare {bare}, shipped {shipped}"
    )
    assert bare == 0
    assert shipped >= NOOPS
