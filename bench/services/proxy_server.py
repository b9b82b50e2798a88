"""The delay proxy's process: ``python -m bench.services.proxy_server --control PORT --route ...``.

An asyncio TCP proxy with one listening port per upstream (Redis, PostgreSQL, the SMTP sink). Each direction of
each connection keeps its byte order and releases every chunk at its arrival time + the one-way delay (RTT / 2):
a reader task stamps each chunk and queues it, one writer task per direction sleeps until each chunk's release
time, so chunks never wait behind each other's delay. It also counts request→response turns per upstream (a
turn: bytes from the client followed by bytes from the server), which say how many round trips a client makes.

It runs as its own process so its CPU never sits in the harness's event loop. The harness
(:class:`bench.services.proxy.DelayProxy`) reads the counters over the control port: one line ``stats`` in, one
JSON line out.

Timers: asyncio sleeps through ``epoll_wait``, whose timeout has a 1 ms granularity (rounded up), which would add
up to 1 ms to a 0.25 ms one-way delay. :class:`FineSelector` therefore waits with ``select(2)`` (microseconds) when the
next timer is less than :data:`FINE_BELOW_S` away, and the process's timer slack is set to 1 ns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import select
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

#: Below this time to the next timer, the selector waits with ``select(2)`` instead of ``epoll_wait`` (1 ms steps).
FINE_BELOW_S = 0.002
#: The proxy's own forwarding time per chunk (wake-up, read, queue, write), taken out of a non-zero delay.
#: Measured on a quiet 2-core VM (p50 of an echo loop against a direct one): 0.5 ms of RTT added 0.57 ms without
#: it, 0.48 ms with 35 µs; 2 ms added 1.99 ms with 35 µs.
FORWARD_COST_S = 30e-6
#: The last stretch before a timer is spun, not slept (see :class:`FineSelector`).
SPIN_S = 0.00005
#: Bytes read at a time from a socket.
CHUNK = 256 * 1024
LOOPBACK = "127.0.0.1"


class FineSelector(selectors.EpollSelector):
    """The epoll selector, except that a timeout under :data:`FINE_BELOW_S` is waited with ``select(2)`` on the
    epoll descriptor itself (readable when an event is ready), whose timeout has a microsecond resolution."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0 or timeout >= FINE_BELOW_S:
            return super().select(timeout)
        deadline = time.monotonic() + timeout
        if timeout > SPIN_S:
            ready, _, _ = select.select([self.fileno()], [], [], timeout - SPIN_S)
            if ready:
                return super().select(0)
        # The last stretch is spun: waking from a sleep costs tens of µs on a VM, which would add to the delay.
        while not (ready := super().select(0)) and time.monotonic() < deadline:
            pass
        return ready


def set_timer_slack_ns(slack: int) -> None:
    """Make this process's sleeps end within ``slack`` ns of their time (Linux's default slack is 50 µs)."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_timerslack = 29
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_timerslack, slack, 0, 0, 0)


@dataclass
class Route:
    """One upstream: where the proxy listens, where it forwards, the one-way delay, and its counters."""

    name: str
    listen_port: int
    host: str
    port: int
    one_way_s: float
    connections: int = 0
    open: int = 0
    turns: int = 0
    client_bytes: int = 0
    server_bytes: int = 0
    client_chunks: int = 0
    server_chunks: int = 0
    per_connection: dict[int, int] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        """The counters, as the control port reports them."""
        return {
            "listen_port": self.listen_port,
            "upstream": f"{self.host}:{self.port}",
            "one_way_ms": self.one_way_s * 1e3,
            "connections": self.connections,
            "open": self.open,
            "turns": self.turns,
            "client_bytes": self.client_bytes,
            "server_bytes": self.server_bytes,
            "client_chunks": self.client_chunks,
            "server_chunks": self.server_chunks,
            # Turns of each open connection: tells a busy client from idle ones' background chatter.
            "open_turns": sorted(self.per_connection.values(), reverse=True),
        }


def parse_route(text: str) -> Route:
    """``name=listen_port:host:port:one_way_us`` → :class:`Route`."""
    name, _, rest = text.partition("=")
    listen, host, port, one_way_us = rest.split(":")
    return Route(name, int(listen), host, int(port), int(one_way_us) / 1e6)


class Connection:
    """One proxied client connection: two delayed directions and the turn counter."""

    def __init__(self, route: Route, ident: int) -> None:
        self.route = route
        self.ident = ident
        #: Which side sent the last chunk: a server chunk after a client chunk completes a turn.
        self.last: str | None = None

    def arrived(self, side: str, size: int) -> None:
        """Count a chunk that just arrived from ``side`` (``client`` or ``server``)."""
        route = self.route
        if side == "client":
            route.client_bytes += size
            route.client_chunks += 1
        else:
            route.server_bytes += size
            route.server_chunks += 1
            if self.last == "client":
                route.turns += 1
                route.per_connection[self.ident] = route.per_connection.get(self.ident, 0) + 1
        self.last = side

    async def pump(self, side: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read from one side, release each chunk to the other at arrival + the one-way delay, in order."""
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        # The proxy's own forwarding time (see FORWARD_COST_S) is taken out of the delay, so a hop
        # costs the delay asked for rather than the delay plus the proxy's work.
        delay = max(0.0, self.route.one_way_s - FORWARD_COST_S)
        loop = asyncio.get_running_loop()
        writing = asyncio.create_task(self._release(queue, writer))
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                now = loop.time()
                if not data:
                    queue.put_nowait((now + delay, None))
                    break
                self.arrived(side, len(data))
                queue.put_nowait((now + delay, data))
            await writing
        finally:
            writing.cancel()

    @staticmethod
    async def _release(queue: asyncio.Queue[tuple[float, bytes | None]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                release, data = await queue.get()
                wait = release - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            return


async def serve_route(route: Route, counter: list[int]) -> asyncio.Server:
    """Start listening for ``route``."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        counter[0] += 1
        ident = counter[0]
        try:
            server_reader, server_writer = await asyncio.open_connection(route.host, route.port, limit=CHUNK)
        except OSError:
            client_writer.close()
            return
        for w in (client_writer, server_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        route.connections += 1
        route.open += 1
        connection = Connection(route, ident)
        try:
            await asyncio.gather(
                connection.pump("client", client_reader, server_writer),
                connection.pump("server", server_reader, client_writer),
            )
        finally:
            route.open -= 1
            route.per_connection.pop(ident, None)
            for w in (client_writer, server_writer):
                w.close()

    return await asyncio.start_server(handle, LOOPBACK, route.listen_port, limit=CHUNK, reuse_address=True)


async def serve(routes: list[Route], control_port: int) -> None:
    """Serve every route and the control port until SIGTERM/SIGINT."""
    counter = [0]
    servers = [await serve_route(route, counter) for route in routes]

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                if line.strip() == b"stats":
                    payload = {"routes": {r.name: r.stats() for r in routes}, "t": time.monotonic()}
                    writer.write(json.dumps(payload).encode() + b"\n")
                else:
                    writer.write(b'{"error": "unknown command"}\n')
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    servers.append(await asyncio.start_server(control, LOOPBACK, control_port, reuse_address=True))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the routes and run the proxy."""
    parser = argparse.ArgumentParser(prog="python -m bench.services.proxy_server")
    parser.add_argument("--control", type=int, required=True, help="control port (stats)")
    parser.add_argument(
        "--route", action="append", default=[], help="name=listen_port:host:port:one_way_us (repeatable)"
    )
    options = parser.parse_args(argv)
    routes = [parse_route(text) for text in options.route]
    set_timer_slack_ns(1)
    loop = asyncio.SelectorEventLoop(FineSelector())
    try:
        loop.run_until_complete(serve(routes, options.control))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
