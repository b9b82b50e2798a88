"""The ``io`` profile: every backend declares its documented way to run many waiting tasks per core, or says why not."""

from __future__ import annotations

import pytest

from bench.backends import IO_THREADS, PROFILES, get_backends

pytestmark = pytest.mark.unit

PROCESSES = 2


def _concurrency(argv: list[str], env: dict[str, str]) -> int:
    """Tasks one worker tree of the io profile runs at once, read from its argv / env (last option wins)."""
    text = " ".join(argv)
    if "--pool=threads" in text:
        return int(text.rsplit("--concurrency=", 1)[1].split()[0])
    if "--worker-type thread" in text:
        return int(text.rsplit("--workers ", 1)[1].split()[0])
    if "rundramatiq" in text:
        return int(text.split("--processes ", 1)[1].split()[0]) * int(text.rsplit("--threads ", 1)[1].split()[0])
    if "--num-workers" in text:
        return int(text.rsplit("--num-workers ", 1)[1].split()[0])
    return int(env["SHOP_IO_WORKERS"])


def test_io_is_a_profile() -> None:
    assert "io" in PROFILES


@pytest.mark.parametrize("backend", [b for b in get_backends() if b.role == "backend"], ids=lambda b: b.name)
def test_every_backend_declares_io_or_says_why_not(backend) -> None:
    declared = backend.same_as("io")
    if declared is not None:
        assert declared.same_as == "shipped" and len(declared.reason) > 40
        return
    argv = backend.worker_argv(PROCESSES, "io")
    assert argv != backend.worker_argv(PROCESSES, "shipped") or backend.worker_env(PROCESSES)
    # The same number of tasks in flight per worker tree for every backend: processes x IO_THREADS.
    assert _concurrency(argv, backend.worker_env(PROCESSES)) == PROCESSES * IO_THREADS
