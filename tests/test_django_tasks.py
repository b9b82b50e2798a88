"""The django.tasks backends (tasks_db, tasks_huey) and what they need that the others do not.

Real workers through their real command lines: tasks_db with no Redis at all, and both backends' ``locate`` /
``describe_failures`` / ``purge`` answers checked against what their workers really did (including a worker killed
mid-task, whose task neither backend runs again).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.agent import run_agent
from bench.backends import Backend, get_backend, get_backends
from bench.channel_wait import ChannelWatcher
from bench.errors import BackendUnavailable
from bench.services import ManagedProcess, RedisServer
from tests.side_by_side import SideBySide

pytestmark = pytest.mark.slow


def available(name: str) -> Backend:
    """The backend, or a skip saying why this interpreter cannot run it."""
    backend = get_backend(name)
    try:
        backend.check_installed()
    except BackendUnavailable as exc:
        pytest.skip(str(exc))
    return backend


def queue_call(backend: Backend, env: dict[str, str], function: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``<queue module>.<function>(*args, **kwargs)`` inside the backend's Django environment; its JSON result."""
    code = (
        "import django, importlib, json, sys; django.setup(); "
        "m = importlib.import_module(sys.argv[1]); a, k = json.loads(sys.argv[3]); "
        "print(json.dumps(getattr(m, sys.argv[2])(*a, **k)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, backend.queue_module, function, json.dumps([args, kwargs])],
        env=env,
        cwd=backend.project_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_worker(backend: Backend, env: dict[str, str], log: Path, processes: int = 1) -> ManagedProcess:
    """The backend's real worker command line."""
    return ManagedProcess(
        backend.worker_argv(processes),
        env=env | backend.worker_env(processes),
        cwd=backend.project_dir,
        log_path=log,
        name=f"{backend.name} worker",
    ).start()


def test_tasks_db_settings_need_no_redis_url(tmp_path: Path) -> None:
    # The same check fails for a Redis backend: the test can tell the difference.
    for name, needs_redis in (("tasks_db", False), ("huey", True)):
        backend = available(name)
        env = backend.environment(redis_url="", var_dir=tmp_path / name)
        assert env["SHOP_REDIS_URL"] == ""
        if needs_redis:
            with pytest.raises(Exception, match="SHOP_REDIS_URL is not set"):
                run_agent(backend, env, "ping")
        else:
            assert run_agent(backend, env, "ping")["shop_queue"] == "shop_tasks_db.queue.enqueue"


def _locate_failures_and_purge(name: str, tmp_path: Path) -> None:
    """One case of :func:`test_locate_failures_and_purge_follow_the_real_workers` (its assertions)."""
    backend = available(name)
    if backend.broker == "database":  # tasks_db gets no Redis at all: its whole life runs on the database
        _follow_the_real_workers(backend, "", tmp_path)
    else:
        with RedisServer() as redis:
            _follow_the_real_workers(backend, redis.url, tmp_path)


def _follow_the_real_workers(backend: Backend, redis_url: str, tmp_path: Path) -> None:
    channel_dir = tmp_path / "channel"
    channel_dir.mkdir()
    env = backend.environment(redis_url=redis_url, var_dir=tmp_path / "var", channel_dir=channel_dir)
    run_agent(backend, env, "prepare", {"demo": False}, timeout=300)
    tag = uuid.uuid4().hex[:8]
    noop = queue_call(backend, env, "enqueue", "noop", probe=f"noop-{tag}")
    later = queue_call(backend, env, "enqueue_delayed", "noop", 60.0, probe=f"later-{tag}")
    failing = queue_call(backend, env, "enqueue", "flaky_default", f"k-{tag}", -1, probe=f"fail-{tag}")
    long = queue_call(backend, env, "enqueue", "sleep", 120.0, None, probe=f"long-{tag}")
    ids = [noop, later, failing, long]

    before = queue_call(backend, env, "locate", ids)
    assert [before[i]["where"] for i in (noop, failing, long)] == ["queued"] * 3, before
    assert before[later]["where"] == "scheduled" and 20 < before[later]["returns_in_s"] <= 60, before[later]

    watcher = ChannelWatcher(str(channel_dir))
    worker = start_worker(backend, env, tmp_path / "worker.log")
    try:
        assert watcher.wait_for([f"noop-{tag}"], ("confirms",), timeout_s=60, alive=worker.alive)
        assert watcher.wait_for([f"fail-{tag}"], ("errors",), timeout_s=30, alive=worker.alive)
        assert watcher.wait_for([f"long-{tag}"], ("starts",), timeout_s=30, alive=worker.alive)
        time.sleep(0.5)  # the failure is recorded after the E event
        worker.kill()  # SIGKILL of the whole worker tree, mid-task
    finally:
        worker.stop(timeout=5)

    after = queue_call(backend, env, "locate", ids)
    assert after[noop]["where"] == "done" and after[failing]["where"] == "failed", after
    assert after[later]["where"] == "scheduled", after[later]
    # The killed worker's task: tasks_db's row stays RUNNING (reserved, for good); Huey popped it (nowhere).
    assert after[long]["where"] in ("reserved", "nowhere") and after[long]["returns_in_s"] is None, after[long]
    failures = queue_call(backend, env, "describe_failures", [failing])
    assert failures["visible"] is True and failures["detail"]["error_sample"] == ["shop.jobs.FlakyError"], failures
    assert queue_call(backend, env, "describe_failures", [noop])["visible"] is False

    # A new worker never runs the killed task again (the location said so: no return time).
    worker = start_worker(backend, env, tmp_path / "worker2.log")
    try:
        probe = f"again-{tag}"
        queue_call(backend, env, "enqueue", "noop", probe=probe)
        assert watcher.wait_for([probe], ("confirms",), timeout_s=60, alive=worker.alive)
        time.sleep(1.0)
        assert len(watcher.poll().starts[f"long-{tag}"]) == 1
    finally:
        worker.stop(timeout=30)
    assert queue_call(backend, env, "locate", [long])[long]["where"] == after[long]["where"]

    if backend.broker == "database":  # the harness's between-scenario reset of a database queue
        assert queue_call(backend, env, "purge") >= len(ids)
        assert {loc["where"] for loc in queue_call(backend, env, "locate", ids).values()} == {"nowhere"}


@pytest.fixture(scope="module")
def real_worker_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide[None]]:
    """Every case of :func:`test_locate_failures_and_purge_follow_the_real_workers`, side by side
    (tests/side_by_side.py), each with a Redis of its own where it needs one: they mostly wait on Django start-ups."""
    with SideBySide(lambda name: _locate_failures_and_purge(name, tmp_path_factory.mktemp(name))) as cases:
        yield cases


@pytest.mark.parametrize("name", ["tasks_db", "tasks_huey"])
def test_locate_failures_and_purge_follow_the_real_workers(
    name: str, real_worker_cases: SideBySide[None], request: pytest.FixtureRequest
) -> None:
    """Where ``locate`` puts a queued, a delayed, a failing and a long task before a worker, after it ran them and
    was SIGKILLed, and after a new worker; failures visible; a database queue purged (assertions in
    :func:`_follow_the_real_workers`, side by side with the other backend)."""
    real_worker_cases.outcome(request)


def test_locate_reports_a_failed_lookup_as_unknown(tmp_path: Path) -> None:
    backend = available("tasks_huey")
    # Nothing listens on port 1: every id is "unknown", and locate does not raise.
    env = backend.environment(redis_url="redis://127.0.0.1:1/0", var_dir=tmp_path / "var")
    answer = queue_call(backend, env, "locate", ["a", "b"])
    assert {loc["where"] for loc in answer.values()} == {"unknown"} and set(answer) == {"a", "b"}


#: Run inside a backend's environment: does its queue module implement the contract (bench/contract.py)?
CONTRACT_CHECK = """
import importlib, os, sys
if os.environ.get("DJANGO_SETTINGS_MODULE"):
    import django
    django.setup()
from bench.contract import DatabaseQueueModule, QueueModule
m = importlib.import_module(sys.argv[1])
print(sorted(m.ENQUEUE) == sorted(sys.argv[2].split(",")), isinstance(m, QueueModule),
      isinstance(m, DatabaseQueueModule), callable(getattr(m, "purge", None)))
"""


@pytest.mark.parametrize("name", ["tasks_db", "tasks_huey", "db-baseline"])
def test_queue_modules_implement_the_contract(name: str, tmp_path: Path, redis_server: RedisServer) -> None:
    backend = next(b for b in get_backends(with_baseline=True) if b.name == name)
    if backend.django:
        backend = available(name)
    env = backend.environment(redis_url=redis_server.url, var_dir=tmp_path / "var")
    done = subprocess.run(
        [sys.executable, "-c", CONTRACT_CHECK, backend.queue_module, ",".join(backend.tasks)],
        env=env,
        cwd=backend.project_dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    every_task, full_contract, database_contract, purges = done.stdout.split()
    assert every_task == "True"
    # The floors only enqueue (and purge); the backends answer every question of the contract.
    assert full_contract == str(backend.django)
    if backend.broker == "database":
        assert purges == "True" and database_contract == str(backend.django)
