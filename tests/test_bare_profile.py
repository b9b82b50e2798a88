"""The ``bare`` profile: each library without its Django result store or admin middleware, on real workers.

- A backend that declares ``bare`` the same configuration as another profile (backend.toml ``[profiles.bare]``)
  really configures the same: the same non-default settings and the same worker command line, from its settings
  module (agent ``bench_settings``). A backend that declares nothing really configures something else.
- Every backend whose ``bare`` differs from ``shipped`` passes the shop's verification in ``bare`` with its real
  workers, every succeeded shop task confirmed (the library's own "done" event, ``C``), and its integration's
  per-task database rows are counted: none in ``bare``, one per task in ``shipped``.

The cases of each test run side by side (tests/side_by_side.py), those with workers each on a Redis and an SMTP sink
of their own: they mostly wait on Django start-ups and workers.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from bench.agent import run_agent
from bench.backends import Backend, load_backends
from bench.channel_wait import ChannelWatcher
from bench.runner import ProducerClient
from bench.services import ManagedProcess, RedisServer, SmtpSink
from bench.verify import VerificationReport, verify_backend
from shop.channel import CONFIRMED, FINISHED, Event, read_events
from tests.side_by_side import SideBySide

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


def _settings(backend: Backend, redis_url: str, base: Path, profile: str) -> list[tuple[str, str, str]]:
    env = backend.environment(redis_url=redis_url, var_dir=base / f"var-{profile}", profile=profile)
    found = run_agent(backend, env, "bench_settings", {}, timeout=120)
    return sorted((s["setting"], repr(s["value"]), repr(s["default"])) for s in found)


def test_the_three_integrations_with_a_store_have_a_bare_of_their_own() -> None:
    assert {b.name for b in BARE_DIFFERS} >= set(INTEGRATION_TABLES)
    assert all(b.same_as("bare") is not None for b in BACKENDS if b.name not in INTEGRATION_TABLES)


class _SettingsOnce:
    """Each (backend, profile)'s settings read once: ``bare`` and ``io`` are both compared with ``shipped``, whose
    answer is the same for both comparisons (the agent reads the settings module, nothing that changes)."""

    def __init__(self, redis_url: str, base: Path) -> None:
        self._redis_url, self._base = redis_url, base
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], Future[list[tuple[str, str, str]]]] = {}

    def __call__(self, backend: Backend, profile: str) -> list[tuple[str, str, str]]:
        with self._lock:
            future = self._found.get((backend.name, profile))
            mine = future is None
            if mine:
                future = self._found[backend.name, profile] = Future()
        assert future is not None
        if mine:
            try:
                future.set_result(_settings(backend, self._redis_url, self._base / backend.name, profile))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()


@pytest.fixture(scope="module")
def compared(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SideBySide[tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], str]]]:
    """Every case of :func:`test_declared_same_profiles_configure_the_same`, side by side (tests/side_by_side.py):
    a profile's settings, its counterpart's, and the counterpart's name."""
    settings = _SettingsOnce(redis_server.url, tmp_path_factory.mktemp("settings"))

    def run(backend: Backend, profile: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], str]:
        same = backend.same_as(profile)
        target = same.same_as if same is not None else "shipped"
        return settings(backend, profile), settings(backend, target), target

    with SideBySide(run) as cases:
        yield cases


@pytest.mark.parametrize("profile", ["bare", "io"])
@pytest.mark.parametrize("backend", BACKENDS, ids=[b.name for b in BACKENDS])
def test_declared_same_profiles_configure_the_same(
    backend: Backend,
    profile: str,
    compared: SideBySide[tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], str]],
    request: pytest.FixtureRequest,
) -> None:
    mine, other, target = compared.outcome(request)
    same = backend.same_as(profile)
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


def _bare_and_shipped(backend: Backend, base: Path) -> tuple[VerificationReport, list[Event], int, int]:
    """On a Redis and an SMTP sink of its own: the shop's verification in ``bare`` and the channel events it left,
    then the integration's rows for :data:`NOOPS` noops in ``bare`` and in ``shipped``."""
    with RedisServer() as redis, SmtpSink(base / "maildir") as smtp:
        report = verify_backend(backend, redis=redis, smtp=smtp, workdir=base / "verify", profile="bare")
        events = list(read_events(base / "verify" / backend.name / "channel"))
        if not report.passed:  # the test says so; the row counts would say nothing more
            return report, events, -1, -1
        bare = _noops_confirmed_and_rows(backend, "bare", redis, base / "bare")
        shipped = _noops_confirmed_and_rows(backend, "shipped", redis, base / "shipped")
    return report, events, bare, shipped


@pytest.fixture(scope="module")
def bare_cases(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SideBySide[tuple[VerificationReport, list[Event], int, int]]]:
    """Every case of :func:`test_bare_runs_the_shop_confirmed_and_without_the_integrations_rows`, side by side."""

    def run(backend: Backend) -> tuple[VerificationReport, list[Event], int, int]:
        return _bare_and_shipped(backend, tmp_path_factory.mktemp(f"bare-{backend.name}"))

    with SideBySide(run) as cases:
        yield cases


@pytest.mark.slow
@pytest.mark.parametrize("backend", BARE_DIFFERS, ids=[b.name for b in BARE_DIFFERS])
def test_bare_runs_the_shop_confirmed_and_without_the_integrations_rows(
    backend: Backend,
    bare_cases: SideBySide[tuple[VerificationReport, list[Event], int, int]],
    request: pytest.FixtureRequest,
) -> None:
    report, events, bare, shipped = bare_cases.outcome(request)
    assert report.passed, report.format()
    # Every task that finished (the shop's tasks and the readiness noop) was confirmed by the library's own "done"
    # hook by the time verification stopped the workers (read afterwards: a C may follow the check's snapshot).
    finished = {e.probe for e in events if e.kind == FINISHED}
    confirmed = {e.probe for e in events if e.kind == CONFIRMED}
    assert len(finished) >= 5, finished
    assert finished <= confirmed, f"finished, never confirmed in bare: {sorted(finished - confirmed)}"

    print(
        f"\n{backend.name}: {INTEGRATION_TABLES[backend.name]} rows for {NOOPS} noops: bare {bare}, shipped {shipped}"
    )
    assert bare == 0
    assert shipped >= NOOPS
