"""The delay proxy: every connection to Redis, PostgreSQL, RabbitMQ and the SMTP sink at a chosen round-trip time.

This kernel has no ``netem``, so the delay is a userspace TCP proxy (:mod:`bench.services.proxy_server`, its own
process, started and stopped like the private Redis). One listening port per upstream; each direction keeps its byte
order and releases each chunk at arrival + RTT / 2. It counts request→response turns per upstream, read with
:meth:`DelayProxy.stats`, so a record can say how many round trips an enqueue or a task made.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from bench.errors import ServiceError
from bench.services.hosts import BROKER_ADDRESS, NetnsHosts, in_namespace
from bench.services.process import LOOPBACK, ManagedProcess, OneProcessService, free_port

T = TypeVar("T")


class DelayProxy(OneProcessService):
    """A proxy process with one route per upstream: ``upstreams`` maps a name to ``(host, port, rtt_ms)``.

    ``port(name)`` is where clients connect instead of the upstream; :meth:`url` rewrites a URL to go through it.
    ``listen`` = (host, network namespace): where the routes listen (``--hosts netns``: the broker host's address in
    its namespace; the control port stays on the harness's loopback).
    """

    def __init__(
        self,
        upstreams: dict[str, tuple[str, int, float]],
        *,
        log_path: str | Path | None = None,
        listen: tuple[str, str] | None = None,
    ) -> None:
        self.upstreams = dict(upstreams)
        self.listen = listen
        self.host = listen[0] if listen else LOOPBACK
        self.ports = {name: free_port() for name in self.upstreams}
        self.control_port = free_port()
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkdtemp(prefix="bench-proxy-")) / "proxy.log"
        self.process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"<DelayProxy {self.upstreams} ports={self.ports}>"

    def argv(self) -> list[str]:
        """The proxy process's command line."""
        argv = [sys.executable, "-m", "bench.services.proxy_server", "--control", str(self.control_port)]
        for name, (host, port, rtt_ms) in self.upstreams.items():
            one_way_us = round(rtt_ms * 1000 / 2)
            argv += ["--route", f"{name}={self.ports[name]}:{host}:{port}:{one_way_us}"]
        if self.listen:
            argv += ["--listen-host", self.listen[0], "--listen-netns", self.listen[1]]
        return argv

    def start(self, timeout: float = 15.0) -> Self:
        """Start the proxy and wait until its control port answers."""
        if self.process is not None and self.process.alive():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        root = Path(__file__).resolve().parent.parent.parent
        process = ManagedProcess(self.argv(), cwd=root, log_path=self.log_path, name="delay-proxy")
        self._start_listening(process, self.control_port, timeout)
        return self

    def port(self, name: str) -> int:
        """The port clients of upstream ``name`` connect to."""
        return self.ports[name]

    def url(self, name: str, url: str) -> str:
        """``url`` (``redis://``, ``postgres://``) with its host and port replaced by the proxy's route ``name``."""
        parts = urllib.parse.urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = (userinfo + "@" if userinfo else "") + f"{self.host}:{self.ports[name]}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def stats(self) -> dict[str, dict[str, Any]]:
        """Counters per route: connections, open, turns, bytes, chunks, turns of each open connection."""
        with socket.create_connection((LOOPBACK, self.control_port), timeout=5) as sock:
            sock.sendall(b"stats\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise ServiceError("the delay proxy closed its control connection")
                data += chunk
        return json.loads(data)["routes"]

    def turns(self) -> dict[str, int]:
        """Turns so far per route (a counter: subtract two readings)."""
        return {name: route["turns"] for name, route in self.stats().items()}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: Round trips timed per measured upstream (after :data:`PROBE_WARMUP` untimed ones): ~0.5 s at 2 ms.
PROBE_ROUNDS = 200
PROBE_WARMUP = 20


def _redis_pings(url: str) -> list[int]:
    """Nanoseconds of each of :data:`PROBE_ROUNDS` raw PINGs on one connection (redis-py, no pipeline)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        times = []
        for _ in range(PROBE_WARMUP + PROBE_ROUNDS):
            started = time.perf_counter_ns()
            client.ping()
            times.append(time.perf_counter_ns() - started)
        return times[PROBE_WARMUP:]
    finally:
        client.close()


def _postgres_selects(url: str) -> list[int]:
    """Nanoseconds of each of :data:`PROBE_ROUNDS` ``SELECT 1`` on one autocommit connection (psycopg)."""
    import psycopg

    with psycopg.connect(url, connect_timeout=2, autocommit=True) as conn:
        times = []
        for _ in range(PROBE_WARMUP + PROBE_ROUNDS):
            started = time.perf_counter_ns()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter_ns() - started)
        return times[PROBE_WARMUP:]


def _amqp_rpcs(url: str) -> list[int]:
    """Nanoseconds of each of :data:`PROBE_ROUNDS` ``basic.qos`` on one channel (py-amqp): a synchronous method,
    one request and its ``-ok``, that touches no queue."""
    from bench.services.rabbitmq import amqp_connection

    conn = amqp_connection(url, timeout=10)
    try:
        channel = conn.channel()
        times = []
        for _ in range(PROBE_WARMUP + PROBE_ROUNDS):
            started = time.perf_counter_ns()
            channel.basic_qos(0, 1, False)
            times.append(time.perf_counter_ns() - started)
        return times[PROBE_WARMUP:]
    finally:
        conn.close()


def _percentile_us(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] / 1e3, 1)


def measure_added_rtt(
    kind: str,
    direct_url: str,
    proxied_url: str,
    run_proxied: Callable[[Callable[[], list[int]]], list[int]] | None = None,
) -> dict[str, float]:
    """The round trip a raw client loop (``redis``: PING; ``postgres``: ``SELECT 1``; ``amqp``: ``basic.qos``)
    takes directly and through the proxy, p50/p99 in µs, and the p50 the proxy added. Direct and proxied loops
    alternate in halves so drift on the machine hits both alike. ``run_proxied`` runs the proxied loop elsewhere
    (on another host's namespace)."""
    loop = {"redis": _redis_pings, "postgres": _postgres_selects, "amqp": _amqp_rpcs}[kind]
    direct: list[int] = []
    proxied: list[int] = []
    for _ in range(2):
        direct += loop(direct_url)
        proxied += run_proxied(lambda: loop(proxied_url)) if run_proxied else loop(proxied_url)
    values = {
        "direct_p50_us": _percentile_us(direct, 50),
        "direct_p99_us": _percentile_us(direct, 99),
        "p50_us": _percentile_us(proxied, 50),
        "p99_us": _percentile_us(proxied, 99),
    }
    values["added_p50_us"] = round(values["p50_us"] - values["direct_p50_us"], 1)
    return values


class ProxiedPath:
    """The way a session reaches its services at one RTT: a :class:`DelayProxy` in front of Redis, PostgreSQL and
    RabbitMQ (when the session has them) and the SMTP sink, and the URLs and port clients use instead of the direct
    ones."""

    def __init__(
        self,
        *,
        redis_url: str,
        smtp_port: int,
        database_url: str | None,
        rtt_ms: float,
        smtp_rtt_ms: float,
        log_path: Path,
        amqp_url: str | None = None,
        hosts: NetnsHosts | None = None,
    ) -> None:
        upstreams = {"redis": (*_host_port(redis_url, 6379), rtt_ms), "smtp": (LOOPBACK, smtp_port, smtp_rtt_ms)}
        if database_url:
            upstreams["postgres"] = (*_host_port(database_url, 5432), rtt_ms)
        if amqp_url:
            upstreams["amqp"] = (*_host_port(amqp_url, 5672), rtt_ms)
        if hosts is not None:
            # The same upstreams at zero delay: what the link between the hosts and the proxy cost by themselves,
            # recorded beside the measured delay (see :meth:`measure`).
            for kind in [k for k in ("redis", "postgres", "amqp") if k in upstreams]:
                upstreams[f"{kind}-base"] = (*upstreams[kind][:2], 0.0)
        listen = (BROKER_ADDRESS, hosts.netns("broker")) if hosts is not None else None
        self.proxy = DelayProxy(upstreams, log_path=log_path, listen=listen)
        self.direct = {"redis": redis_url, "postgres": database_url, "amqp": amqp_url}
        #: ``--hosts netns``: the proxied loops of :meth:`measure` run on the app host, through its link.
        self.hosts = hosts

    def start(self) -> Self:
        """Start the proxy."""
        self.proxy.start()
        return self

    def stop(self) -> None:
        """Stop the proxy."""
        self.proxy.stop()

    def redis_url(self, url: str) -> str:
        """``url`` (a Redis URL of the proxied server) through the proxy."""
        return self.proxy.url("redis", url)

    def database_url(self, url: str | None) -> str | None:
        """``url`` (a database of the proxied PostgreSQL) through the proxy; ``None`` stays ``None`` (SQLite)."""
        return self.proxy.url("postgres", url) if url and "postgres" in self.proxy.ports else url

    def amqp_url(self, url: str | None) -> str | None:
        """``url`` (the RabbitMQ node's AMQP URL) through the proxy; ``None`` stays ``None`` (no RabbitMQ)."""
        return self.proxy.url("amqp", url) if url and "amqp" in self.proxy.ports else url

    @property
    def smtp_port(self) -> int:
        """The port the shop sends its mail to."""
        return self.proxy.port("smtp")

    @property
    def smtp_host(self) -> str:
        """The address the shop sends its mail to (the broker host's with ``--hosts netns``)."""
        return self.proxy.host

    def on_app(self, fn: Callable[[], T]) -> T:
        """``fn()`` as a client of the proxy: on the app host with ``--hosts netns`` (a thread in its namespace),
        else here."""
        return in_namespace(self.hosts.netns("app"), fn) if self.hosts is not None else fn()

    def measure(self) -> dict[str, dict[str, float]]:
        """The round trip the proxy adds, per proxied upstream a client loop can probe (Redis, PostgreSQL,
        RabbitMQ); with ``--hosts netns`` the proxied loop runs on the app host, so the link counts too."""
        measured = {}
        for kind, url in self.direct.items():
            if not url:
                continue
            # On separate hosts the proxied loop runs on the app host, against a direct one on the harness's loopback
            # (a real network's round trip includes its link, and the proxy's delay absorbs its own forwarding
            # cost); what the link and the proxy cost at zero delay is recorded beside.
            measured[kind] = measure_added_rtt(kind, url, self.proxy.url(kind, url), self.on_app)
            if self.hosts is not None:
                link = measure_added_rtt(kind, url, self.proxy.url(f"{kind}-base", url), self.on_app)
                measured[kind]["link_added_p50_us"] = link["added_p50_us"]
        return measured


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or LOOPBACK, parts.port or default_port
