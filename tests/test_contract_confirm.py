"""Every backend says "done" on the channel: a ``C`` event from its library's own completion hook, after the ``F``.

Real workers through their real command lines, in the profile as shipped, in the tuned one (where Celery ignores
results and django-q2 saves no successful task: the hook must still fire) and in bare where it is a configuration of
its own (Celery with no result backend at all, Dramatiq without AdminMiddleware). A task that raised is never
confirmed. The cases run side by side, each on a Redis of its own (tests/side_by_side.py): they mostly wait.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.agent import run_agent
from bench.backends import load_backends
from bench.channel_wait import ChannelWatcher, ProbeLog
from bench.runner import ProducerClient
from bench.services import ManagedProcess, RedisServer
from tests.side_by_side import SideBySide

BACKENDS = sorted(load_backends())
#: (backend, profile), leaving out a profile the backend declares the same configuration as another one tested here.
CASES = [
    (name, profile)
    for name, backend in sorted(load_backends().items())
    for profile in ("bare", "shipped", "tuned")
    if getattr(backend.same_as(profile), "same_as", None) not in ("shipped", "tuned")
]
REPO = Path(__file__).resolve().parent.parent
NOOPS = [f"ok-{i}" for i in range(3)]

pytestmark = pytest.mark.slow


def _run(name: str, profile: str, base: Path) -> ProbeLog:
    """Three noops and one failing task on the real worker (1 process) on a Redis of its own: the channel's log."""
    backend = load_backends()[name]
    with RedisServer() as redis:
        channel_dir = base / "channel"
        env = backend.environment(redis_url=redis.url, var_dir=base / "var", channel_dir=channel_dir, profile=profile)
        env["BENCH_QUEUE_MODULE"] = backend.queue_module
        run_agent(backend, env, "prepare", {"demo": False}, timeout=120)
        worker = ManagedProcess(
            backend.worker_argv(1, profile, "WARNING"),
            env=env | backend.worker_env(1, "WARNING"),
            cwd=backend.project_dir,
            log_path=base / "worker.log",
            name=f"{name} worker",
        )
        with worker:  # started here, stopped (and its tree killed) on the way out
            # One producer process (started while the worker boots) enqueues with the backend's own enqueue(), as the
            # harness does: one Django start instead of one per task.
            producer = ProducerClient(env, REPO, base / "producer.log")
            try:
                producer.call("produce_tracked", task="noop", args=[[]] * 3, prefix="ok-")
                # Fails once; none of the backends retries flaky_default within this test (Dramatiq's default
                # back-off starts at 15 s), so its attempt must end with E and no C.
                producer.call("produce_tracked", task="flaky_default", args=[["c1", 1]], prefix="bad-")
            finally:
                producer.close()
            watcher = ChannelWatcher(str(channel_dir))
            assert watcher.wait_for(NOOPS, ("confirms",), timeout_s=60, alive=worker.alive), worker.log_tail(10)
            assert watcher.wait_for(["bad-0"], ("errors",), timeout_s=60, alive=worker.alive), worker.log_tail(10)
            time.sleep(1.0)  # time for a wrong confirmation of the failed task to show up
            return watcher.poll()


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide[ProbeLog]]:
    """Every case, side by side (tests/side_by_side.py), each on its own Redis."""
    with SideBySide(lambda name, profile: _run(name, profile, tmp_path_factory.mktemp(f"{name}-{profile}"))) as runs:
        yield runs


@pytest.mark.parametrize(("name", "profile"), CASES)
def test_done_tasks_are_confirmed_after_their_finish(
    name: str, profile: str, cases: SideBySide[ProbeLog], request: pytest.FixtureRequest
) -> None:
    log = cases.outcome(request)
    for probe in NOOPS:
        assert log.kinds(probe) == "SFC", (probe, log.kinds(probe))
        assert min(log.confirms[probe]) >= max(log.finishes[probe])
    assert "C" not in log.kinds("bad-0") and "E" in log.kinds("bad-0")
