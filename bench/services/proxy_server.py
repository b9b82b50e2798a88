"""The delay proxy's process: ``python -m bench.services.proxy_server --control PORT --route ...``.

An asyncio TCP proxy with one listening port per upstream (Redis, PostgreSQL, the SMTP sink). Each direction of
each connection keeps its byte order and releases every chunk at its arrival time + the one-way delay (RTT / 2):
a reader callback stamps each chunk with the kernel's arrival time and queues it, one writer task per direction
sleeps until each chunk's release time, so chunks never wait behind each other's delay. It also counts
request→response turns per upstream (a turn: bytes from the client followed by bytes from the server), which say
how many round trips a client makes.

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
import os
import select
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any

#: Below this time to the next timer, the selector waits with ``select(2)`` instead of ``epoll_wait`` (1 ms steps).
FINE_BELOW_S = 0.002
#: The proxy's own forwarding time per chunk (the write and the peer's wake-up, which the kernel arrival stamp and
#: the learnt wake-up lead do not cover), taken out of a non-zero delay. Measured on a 2-core VM (p50 of an echo loop
#: against a direct one, load ~3): 0.5 ms of RTT added 0.47–0.51 ms, 2 ms added 1.99–2.03 ms; 0 ms costs ~30 µs.
FORWARD_COST_S = 15e-6
#: How fast the wake-up lead follows the measured lateness of wake-ups (see :meth:`Connection._release`).
LEAD_GAIN = 0.1
#: How long before a release time a writer aims to wake (then spins), and the most it wakes early.
SPIN_MARGIN_S = 0.00001
MAX_LEAD_S = 0.0005
#: Bytes read at a time from a socket.
CHUNK = 256 * 1024
LOOPBACK = "127.0.0.1"


class FineSelector(selectors.EpollSelector):
    """The epoll selector, except that a timeout under :data:`FINE_BELOW_S` is waited with ``select(2)`` on the
    epoll descriptor itself (readable when an event is ready), whose timeout has a microsecond resolution."""

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and 0 < timeout < FINE_BELOW_S:
            select.select([self.fileno()], [], [], timeout)
            timeout = 0
        return super().select(timeout)


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
    #: How early a writer wakes before a release time, learnt from its wake-ups' lateness (shared by the route).
    lead_s: float = 0.0

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
            "wake_lead_us": round(self.lead_s * 1e6, 1),
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

    def pump(self, side: str, source: socket.socket, target: socket.socket) -> asyncio.Task[None]:
        """Forward ``source`` → ``target``: each chunk is stamped with its kernel arrival time (``SO_TIMESTAMPNS``,
        so the proxy's own wake-up does not add to the delay) and released at arrival + the one-way delay, in
        order, by one writer task; returns that task (done when the direction is closed)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()
        # The proxy's own forwarding time (see FORWARD_COST_S) is taken out of the delay, so a hop costs the
        # delay asked for rather than the delay plus the proxy's work.
        delay = max(0.0, self.route.one_way_s - FORWARD_COST_S) if self.route.one_way_s > 0 else 0.0

        def readable() -> None:
            while True:
                try:
                    data, ancillary, _flags, _addr = source.recvmsg(CHUNK, ANCILLARY_SIZE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:
                    data, ancillary = b"", []
                now = loop.time()
                if not data:
                    loop.remove_reader(source)
                    queue.put_nowait((now + delay, None))
                    return
                self.arrived(side, len(data))
                queue.put_nowait((now - _queued_for(ancillary) + delay, data))

        loop.add_reader(source, readable)
        return asyncio.create_task(self._release(queue, target))

    async def _release(self, queue: asyncio.Queue[tuple[float, bytes | None]], target: socket.socket) -> None:
        """Write each queued chunk at its release time.

        Waking from a sleep is late by tens of µs (more when other processes hold the CPU), which would add to
        the delay. So the writer wakes up ``route.lead_s`` early and spins to the release time; the lead follows
        how early or late the wake-ups really were, and a chunk is never written before its time.
        """
        loop = asyncio.get_running_loop()
        route = self.route
        try:
            while True:
                release, data = await queue.get()
                wait = release - route.lead_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    # Aim at waking SPIN_MARGIN_S before the release time: later, and the lead grows.
                    late = loop.time() - release + SPIN_MARGIN_S
                    route.lead_s = min(max(0.0, route.lead_s + LEAD_GAIN * late), MAX_LEAD_S)
                while loop.time() < release:
                    pass
                if data is None:
                    target.shutdown(socket.SHUT_WR)
                    return
                await loop.sock_sendall(target, data)
        except OSError:
            return


#: Room for one ``SCM_TIMESTAMPNS`` (a ``struct timespec``) in ``recvmsg``'s ancillary data.
ANCILLARY_SIZE = socket.CMSG_SPACE(16)


def _queued_for(ancillary: list[tuple[int, int, bytes]]) -> float:
    """How long a chunk sat in the kernel before the proxy read it, from its ``SCM_TIMESTAMPNS`` (0 without one)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return max(0.0, time.time() - (seconds + nanoseconds / 1e9))
    return 0.0


#: Linux's values (the socket module does not export them).
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS


def _prepare(sock: socket.socket) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)


def make_listener(port: int, host: str = LOOPBACK, netns: str | None = None) -> socket.socket:
    """A listening socket on ``host:port``; with ``netns`` (``/proc/PID/ns/net``) inside that network namespace
    (``--hosts netns``: the broker host), the process itself staying in its own, where the upstreams are."""
    if netns is None:
        return socket.create_server((host, port), backlog=512)
    from bench.services.hosts import setns

    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(netns)
        try:
            return socket.create_server((host, port), backlog=512)
        finally:
            setns(back)
    finally:
        os.close(back)


async def serve_route(route: Route, counter: list[int], listen: tuple[str, str | None]) -> asyncio.Task[None]:
    """Listen for ``route`` on ``listen`` (host, network namespace or None); the returned task accepts connections
    until cancelled."""
    loop = asyncio.get_running_loop()
    listener = make_listener(route.listen_port, *listen)
    listener.setblocking(False)

    async def handle(client: socket.socket) -> None:
        counter[0] += 1
        ident = counter[0]
        server = socket.socket(socket.AF_INET if ":" not in route.host else socket.AF_INET6, socket.SOCK_STREAM)
        try:
            _prepare(client)
            server.setblocking(False)
            await loop.sock_connect(server, (route.host, route.port))
            _prepare(server)
        except OSError:
            client.close()
            server.close()
            return
        route.connections += 1
        route.open += 1
        connection = Connection(route, ident)
        try:
            await asyncio.gather(connection.pump("client", client, server), connection.pump("server", server, client))
        finally:
            route.open -= 1
            route.per_connection.pop(ident, None)
            for sock in (client, server):
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_reader(sock)
                sock.close()

    async def accept() -> None:
        handlers: set[asyncio.Task[None]] = set()
        with listener:
            while True:
                client, _ = await loop.sock_accept(listener)
                task = asyncio.create_task(handle(client))
                handlers.add(task)
                task.add_done_callback(handlers.discard)

    return asyncio.create_task(accept())


async def serve(routes: list[Route], control_port: int, listen: tuple[str, str | None] = (LOOPBACK, None)) -> None:
    """Serve every route (on ``listen``: host and network namespace) and the control port (on the harness's
    loopback) until SIGTERM/SIGINT."""
    counter = [0]
    accepting = [await serve_route(route, counter, listen) for route in routes]

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

    server = await asyncio.start_server(control, LOOPBACK, control_port, reuse_address=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    for task in accepting:
        task.cancel()


def main(argv: list[str] | None = None) -> int:
    """Parse the routes and run the proxy."""
    parser = argparse.ArgumentParser(prog="python -m bench.services.proxy_server")
    parser.add_argument("--control", type=int, required=True, help="control port (stats)")
    parser.add_argument(
        "--route", action="append", default=[], help="name=listen_port:host:port:one_way_us (repeatable)"
    )
    parser.add_argument("--listen-host", default=LOOPBACK, help="address the routes listen on")
    parser.add_argument("--listen-netns", help="network namespace the routes listen in (/proc/PID/ns/net)")
    options = parser.parse_args(argv)
    routes = [parse_route(text) for text in options.route]
    set_timer_slack_ns(1)
    loop = asyncio.SelectorEventLoop(FineSelector())
    try:
        loop.run_until_complete(serve(routes, options.control, (options.listen_host, options.listen_netns)))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
