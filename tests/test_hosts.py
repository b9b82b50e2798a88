"""``--hosts netns``: the app, the workers and the broker on three network namespaces joined by links, made and
removed by the run (also when the harness is killed), and a real run of a backend across them."""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.results import load_results
from bench.services import LOOPBACK
from bench.services.hosts import ADDRESSES, BROKER_ADDRESS, NetnsHosts, in_namespace, unavailable_reason
from bench.services.proxy import DelayProxy
from tests.test_pipeline import run_bench

REPO = Path(__file__).resolve().parent.parent

needs_namespaces = pytest.mark.skipif(unavailable_reason() is not None, reason=f"--hosts netns {unavailable_reason()}")


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    """An echo server on the harness's loopback: the stand-in for a broker the proxy fronts."""
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


@needs_namespaces
def test_each_host_reaches_the_broker_over_its_link_and_nothing_is_left(echo: int) -> None:
    with (
        NetnsHosts() as hosts,
        DelayProxy({"echo": (LOOPBACK, echo, 0.0)}, listen=(BROKER_ADDRESS, hosts.netns("broker"))) as proxy,
    ):
        port = proxy.port("echo")

        def talk() -> tuple[str, bytes]:
            with socket.create_connection((BROKER_ADDRESS, port), timeout=5) as sock:
                sock.sendall(b"ping")
                return sock.getsockname()[0], sock.recv(16)

        def harness_loopback_from_here() -> bool:
            try:
                socket.create_connection((LOOPBACK, echo), timeout=2).close()
            except OSError:
                return False
            return True

        # Each client host speaks from its own address, across the link, to the broker host's bridge.
        assert in_namespace(hosts.netns("workers"), talk) == (ADDRESSES["workers"], b"ping")
        assert in_namespace(hosts.netns("app"), talk) == (ADDRESSES["app"], b"ping")
        # A host has a loopback of its own: the services on the harness's are out of its reach but for the proxy.
        assert not in_namespace(hosts.netns("app"), harness_loopback_from_here)
        assert proxy.stats()["echo"]["connections"] == 2
        # No link of the run appears in the machine's own namespace.
        assert "to-workers" not in subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
        pids = hosts.pids()
    assert sorted(pids) == ["app", "broker", "workers"]
    assert all(_gone(pid) for pid in pids.values())


@needs_namespaces
def test_the_hosts_go_when_the_harness_is_killed() -> None:
    code = (
        "import json, sys, time\n"
        "from bench.services.hosts import NetnsHosts\n"
        "hosts = NetnsHosts().start()\n"
        "print(json.dumps(hosts.pids()), flush=True)\n"
        "time.sleep(60)\n"
    )
    harness = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert harness.stdout is not None
        pids = json.loads(harness.stdout.readline())
        assert all(not _gone(pid) for pid in pids.values())
        os.kill(harness.pid, signal.SIGKILL)
        harness.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(pid) for pid in pids.values()), f"hosts outlived a SIGKILL of the harness: {pids}"
    finally:
        if harness.poll() is None:
            harness.kill()


@needs_namespaces
@pytest.mark.slow
def test_a_backend_runs_across_the_hosts_and_its_records_say_so(tmp_path: Path) -> None:
    """Huey's real workers on the workers host and its producer on the app host, the broker and database at
    198.18.0.1: every record ok, each saying where it was measured and what the link costs."""
    done = run_bench(
        "--quick", "--backends", "huey", "--scenarios", "enqueue,throughput", "--hosts", "netns",
        "--out", str(tmp_path), "--no-report", timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = load_results(tmp_path / "results.json")
    assert results.run["hosts"] == "netns"
    measured = [r for r in results.records if r.scenario in ("enqueue", "throughput")]
    assert measured and all(r.ok for r in measured), [(r.scenario, r.error) for r in measured if not r.ok]
    for record in measured:
        assert record.network["hosts"] == {"mode": "netns", "addresses": ADDRESSES}
        assert record.network["proxied"] is True
        redis = record.network["measured"]["redis"]
        assert redis["link_added_p50_us"] > 0 and redis["p50_us"] > redis["direct_p50_us"]


@pytest.mark.unit
def test_without_root_the_run_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert unavailable_reason() == "needs root to create network namespaces"
