"""The two RQ-backed projects (``rq``, ``tasks_rq``) answer ``locate``/``describe_failures`` from RQ's own structures.

Real Redis, the real ``rqworker-pool`` from backend.toml, real jobs; the answers are checked against what RQ did,
including the case that surprised us: a SIGKILLed pool leaves its scheduler lock behind, so a restarted pool does not
enqueue due jobs until that lock expires and a worker's maintenance runs (``shop.rqinspect.scheduler_rule``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bench.backends import Backend, get_backend
from bench.contract import check_location
from bench.services import ManagedProcess, RedisServer
from shop.channel import read_events

pytestmark = pytest.mark.slow

NAMES = ("rq", "tasks_rq")


def in_backend(backend: Backend, env: dict[str, str], code: str) -> Any:
    """Run ``code`` (which sets ``result``) inside the backend's Django environment; ``result`` as JSON."""
    script = (
        "import django, json, importlib\ndjango.setup()\n"
        f"m = importlib.import_module({backend.queue_module!r})\n{code}\nprint(json.dumps(result))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=backend.project_dir, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def locate(backend: Backend, env: dict[str, str], ids: list[str]) -> dict[str, dict[str, Any]]:
    located = in_backend(backend, env, f"result = m.locate({ids!r})")
    return {task_id: dict(check_location(value)) for task_id, value in located.items()}


def wait_for(channel: Path, kind: str, probes: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probes <= {e.probe for e in read_events(channel) if e.kind == kind}:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event for {probes} within {timeout} s")


@pytest.fixture
def setup(name: str, redis_server: RedisServer, tmp_path: Path) -> tuple[Backend, dict[str, str], Path]:
    redis_server.flushall()
    backend = get_backend(name)
    channel = tmp_path / "channel"
    env = backend.environment(redis_url=redis_server.url, var_dir=tmp_path / "var", channel_dir=channel)
    subprocess.run(backend.manage_argv("migrate", "-v0"), env=env, cwd=backend.project_dir, check=True, timeout=120)
    return backend, env, channel


def worker(backend: Backend, env: dict[str, str], tmp_path: Path, tag: str) -> ManagedProcess:
    return ManagedProcess(
        backend.worker_argv(1), env=env, cwd=backend.project_dir, log_path=tmp_path / f"worker-{tag}.log"
    ).start()


@pytest.mark.parametrize("name", NAMES)
def test_locate_and_failures_follow_rq(setup: tuple[Backend, dict[str, str], Path], tmp_path: Path) -> None:
    backend, env, channel = setup
    queued = in_backend(backend, env, "result = m.enqueue('noop', probe='queued')")
    delayed = in_backend(backend, env, "result = m.enqueue_delayed('noop', 600, probe='delayed')")
    failing = in_backend(backend, env, "result = m.enqueue('flaky_default', 'k', -1, probe='failing')")
    before = locate(backend, env, [queued, delayed, "no-such-job"])
    assert before[queued]["where"] == "queued"
    assert before[delayed]["where"] == "scheduled" and before[delayed]["returns_in_s"] >= 590
    assert before["no-such-job"]["where"] == "nowhere"

    with worker(backend, env, tmp_path, "a"):
        wait_for(channel, "F", {"queued"})
        wait_for(channel, "E", {"failing"})
        time.sleep(1.0)  # the failure is recorded after the E event
        after = locate(backend, env, [queued, failing, delayed])
        failures = in_backend(backend, env, f"result = m.describe_failures([{failing!r}])")
    assert after[queued]["where"] == "done"
    assert after[failing]["where"] == "failed"
    assert after[delayed]["where"] == "scheduled" and "live scheduler" in after[delayed]["rule"]
    assert failures["visible"] and "FailedJobRegistry" in failures["where"]
    assert failures["detail"]["in_failed_registry"] == 1


@pytest.mark.parametrize("name", ["rq"])
def test_killed_scheduler_strands_due_jobs_and_locate_says_so(
    setup: tuple[Backend, dict[str, str], Path], tmp_path: Path
) -> None:
    backend, env, channel = setup
    first = worker(backend, env, tmp_path, "first")
    in_backend(backend, env, "result = m.enqueue('noop', probe='up')")
    wait_for(channel, "F", {"up"})
    delayed = in_backend(backend, env, "result = m.enqueue_delayed('noop', 2, probe='delayed')")
    first.kill()  # SIGKILL of the whole pool: its scheduler never releases the queue's lock
    with worker(backend, env, tmp_path, "second"):
        in_backend(backend, env, "result = m.enqueue('noop', probe='up2')")
        wait_for(channel, "F", {"up2"})  # the new pool works...
        time.sleep(4)  # ...and the delayed job is due, but nobody moves it
        where = locate(backend, env, [delayed])[delayed]
        ran = "delayed" in {e.probe for e in read_events(channel)}
    assert not ran
    assert where["where"] == "scheduled"
    assert "stopped polling" in where["rule"] and where["returns_in_s"] > 600, where
