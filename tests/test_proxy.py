"""The delay proxy, on real sockets through its real process: the delay it adds, byte order, turn counting."""

from __future__ import annotations

import socket
import socketserver
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from bench.services import LOOPBACK
from bench.services.proxy import DelayProxy

#: Round trips timed per measurement (p50 of them).
ROUNDS = 400


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[int]:
    """An echo server on a free loopback port (a thread per connection)."""
    server = socketserver.ThreadingTCPServer((LOOPBACK, 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _rtt_quantiles_s(port: int, rounds: int = ROUNDS) -> dict[str, float]:
    """p10 and p50 of ``rounds`` echo round trips on one connection (after 20 warm-up ones)."""
    with socket.create_connection((LOOPBACK, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(rounds + 20):
            started = time.perf_counter()
            sock.sendall(b"ping")
            got = b""
            while len(got) < 4:
                got += sock.recv(64)
            times.append(time.perf_counter() - started)
    deciles = statistics.quantiles(times[20:], n=10)
    return {"p10": deciles[0], "p50": deciles[4]}


#: Measurements of the added delay before the test gives up: other processes on a shared 2-core machine can
#: delay one measurement's wake-ups (a noisy neighbour, not the proxy); the proxy must be right in one of them.
ATTEMPTS = 3


@pytest.mark.parametrize("rtt_ms", [0.5, 2.0])
def test_the_proxy_adds_the_configured_round_trip_within_10_percent(echo: int, rtt_ms: float) -> None:
    # The delay the proxy adds is judged on the p10 round trip: with the test tier's cases running side by side
    # on 2 cores, a median round trip also holds wake-ups other processes delayed (seen: +0.06-0.09 ms at 0.5 ms),
    # which is the machine, not the proxy (the harness judges a session's median against its 25 % tolerance).
    added: list[dict[str, float]] = []
    with DelayProxy({"echo": (LOOPBACK, echo, rtt_ms)}) as proxy:
        for _ in range(ATTEMPTS):
            direct = _rtt_quantiles_s(echo)
            proxied = _rtt_quantiles_s(proxy.port("echo"))
            added.append({q: round((proxied[q] - direct[q]) * 1e3, 3) for q in direct})
            if added[-1]["p10"] == pytest.approx(rtt_ms, rel=0.10):
                break
    assert added[-1]["p10"] == pytest.approx(rtt_ms, rel=0.10), f"added {added} ms for {rtt_ms} ms"


def test_chunks_in_flight_do_not_wait_behind_each_others_delay(echo: int) -> None:
    # 20 pings written 1 ms apart on one connection: each comes back RTT after it was written, so the last one is
    # back ~20 ms + RTT after the first was sent; a proxy that delayed each chunk after the previous one was
    # released would take 20 × RTT (800 ms).
    rtt_ms, pings = 40.0, 20
    with (
        DelayProxy({"echo": (LOOPBACK, echo, rtt_ms)}) as proxy,
        socket.create_connection((LOOPBACK, proxy.port("echo"))) as sock,
    ):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for _ in range(pings):
            sock.sendall(b"ping")
            time.sleep(0.001)
        got = b""
        while len(got) < 4 * pings:
            got += sock.recv(4096)
        elapsed_ms = (time.perf_counter() - started) * 1e3
    assert got == b"ping" * pings
    assert rtt_ms <= elapsed_ms < rtt_ms + pings * 1.0 + 100, f"{pings} pipelined pings took {elapsed_ms:.1f} ms"


def test_byte_order_is_kept_under_concurrent_connections(echo: int) -> None:
    payloads = {i: b"".join(f"{i}:{n};".encode() for n in range(3000)) for i in range(8)}
    received: dict[int, bytes] = {}

    def client(i: int, port: int) -> None:
        data = payloads[i]
        with socket.create_connection((LOOPBACK, port)) as sock:
            # Many small writes, each a chunk of its own, while the echo streams them back.
            for start in range(0, len(data), 997):
                sock.sendall(data[start : start + 997])
            sock.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
        received[i] = got

    with DelayProxy({"echo": (LOOPBACK, echo, 1.0)}) as proxy:
        threads = [threading.Thread(target=client, args=(i, proxy.port("echo"))) for i in payloads]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert received == payloads


def test_turns_are_counted_per_request_and_response(echo: int) -> None:
    with DelayProxy({"echo": (LOOPBACK, echo, 0.0), "other": (LOOPBACK, echo, 0.0)}) as proxy:
        before = proxy.turns()
        for _ in range(3):
            _rtt_quantiles_s(proxy.port("echo"), rounds=10)  # 30 round trips + 20 warm-up ones per call
        time.sleep(0.1)
        stats = proxy.stats()
    assert before == {"echo": 0, "other": 0}
    assert stats["echo"]["turns"] == 3 * 30
    assert stats["echo"]["connections"] == 3
    assert stats["other"]["turns"] == 0


def test_urls_are_rewritten_to_the_proxy_port() -> None:
    proxy = DelayProxy({"redis": (LOOPBACK, 6390, 1.0), "postgres": (LOOPBACK, 5439, 1.0)})
    assert proxy.url("redis", "redis://127.0.0.1:6390/3") == f"redis://127.0.0.1:{proxy.port('redis')}/3"
    assert proxy.url("postgres", "postgres://bench:pw@127.0.0.1:5439/db_x") == (
        f"postgres://bench:pw@127.0.0.1:{proxy.port('postgres')}/db_x"
    )
