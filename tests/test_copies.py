"""``python -m bench.copies N -- argv``: N real copies of a one-process worker command, stopped and killed as one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
#: A stand-in worker: prints its pid, stops gracefully on SIGTERM (exit 0) and says so. One os.write per line: the
#: copies share one pipe, and a line written in one write (< PIPE_BUF) is never interleaved with another's.
WORKER = (
    "import os, signal, sys, time\n"
    "say = lambda text: os.write(1, f'{text} {os.getpid()}\\n'.encode())\n"
    "signal.signal(signal.SIGTERM, lambda *a: (say('stopped'), sys.exit(0)))\n"
    "say('started')\n"
    "time.sleep(60)\n"
)


def launch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.copies", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as the harness starts a worker command
    )


def wait_children(launcher: subprocess.Popen[str], count: int) -> list[psutil.Process]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = psutil.Process(launcher.pid).children()
        if len(children) == count:
            return children
        time.sleep(0.05)
    raise AssertionError(f"expected {count} copies")


def test_sigterm_reaches_every_copy_and_the_launcher_exits_with_them() -> None:
    launcher = launch("3", "--", sys.executable, "-c", WORKER)
    children = wait_children(launcher, 3)
    assert {os.getpgid(c.pid) for c in children} == {launcher.pid}  # the harness's group stop reaches them
    time.sleep(0.5)  # let each install its handler
    launcher.send_signal(signal.SIGTERM)
    out, _ = launcher.communicate(timeout=20)
    assert launcher.returncode == 0
    assert sorted(line.split()[1] for line in out.splitlines() if line.startswith("stopped")) == sorted(
        str(c.pid) for c in children
    )


def test_copies_die_with_a_killed_launcher() -> None:
    launcher = launch("2", "--", sys.executable, "-c", WORKER)
    children = wait_children(launcher, 2)
    launcher.kill()  # SIGKILL: only the parent-death signal can reach the copies
    launcher.wait()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive


def test_the_first_failing_status_is_the_launchers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.copies", "2", "--", sys.executable, "-c", "import sys; sys.exit(3)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 3 and "exited with 3" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["0", "--", "true"], "must be ≥ 1"), (["2"], "no command given"), (["two", "--", "true"], "invalid int")],
)
def test_bad_input_is_one_line_and_status_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.copies", *args], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1]
