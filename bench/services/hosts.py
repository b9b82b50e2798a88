"""``--hosts netns``: the app, the workers and the broker as three hosts, in network namespaces the run makes.

Each host is a network namespace held by a ``sleep`` process of its own (``unshare --net``), started like every
other service (:class:`ManagedProcess`: stopped on Ctrl-C, SIGTERM and a crash, and sent SIGTERM by the kernel when
the harness dies even by SIGKILL). A namespace ends with its last process, and the links in it with it: nothing is
left behind and nothing is created in the machine's own namespace. The broker host has a bridge at
:data:`BROKER_ADDRESS`; the workers and the app host (the producer and the harness's agent commands: the web
process's side) each have a veth link to that bridge. Addresses are from 198.18.0.0/15, the range RFC 2544 sets
aside for benchmarking, so they can never be anybody's real network.

The broker host holds the listening end of the session's delay proxy (:class:`bench.services.proxy.DelayProxy`
with ``listen``): clients see Redis, PostgreSQL, RabbitMQ and the SMTP sink at :data:`BROKER_ADDRESS`, through a
link, not at 127.0.0.1. The server processes themselves stay on the harness's loopback behind the proxy, so the
fault scenarios stop, crash and restart them as on one host.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from bench.errors import ServiceError
from bench.services.process import ManagedProcess

#: The hosts, and each one's address on the bridge (198.18.0.0/15: RFC 2544's benchmarking range).
ADDRESSES = {"broker": "198.18.0.1", "workers": "198.18.0.2", "app": "198.18.0.3"}
BROKER_ADDRESS = ADDRESSES["broker"]
PREFIX_LEN = 24
#: Programs the namespaces are made with (util-linux and iproute2).
TOOLS = ("unshare", "nsenter", "ip")

#: The environment variable that carries the app host's ``nsenter`` prefix (a JSON argv) to the code that starts the
#: app's processes (producer, agent commands, pytest-benchmark): set by the session on separate hosts only.
APP_HOST_ENV = "BENCH_APP_HOST"

_CLONE_NEWNET = 0x40000000
T = TypeVar("T")


def on_app_host(env: Mapping[str, str], argv: list[str]) -> list[str]:
    """``argv`` run on the app host when ``env`` says there is one (:data:`APP_HOST_ENV`), else as it is."""
    prefix = env.get(APP_HOST_ENV)
    return [*json.loads(prefix), *argv] if prefix else argv


class HostsUnavailable(ServiceError):
    """``--hosts netns`` cannot run here (not root, or a tool is missing); the message is one line."""


def unavailable_reason() -> str | None:
    """Why this machine cannot make the run's namespaces, or None when it can."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (util-linux, iproute2)"
    return None


def setns(target: str | int) -> None:
    """Move the calling thread into a network namespace: ``target`` is its path (``/proc/PID/ns/net``) or an open
    descriptor of it."""
    fd = os.open(target, os.O_RDONLY) if isinstance(target, str) else target
    try:
        if hasattr(os, "setns"):  # Python 3.12+
            os.setns(fd, _CLONE_NEWNET)
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({target}): {os.strerror(errno)}")
    finally:
        if isinstance(target, str):
            os.close(fd)


def in_namespace(path: str, fn: Callable[[], T]) -> T:
    """``fn()`` run in a thread of its own inside the namespace at ``path`` (sockets it makes stay there); the
    caller's threads are not moved."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            setns(path)
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="in-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class NetnsHosts:
    """Three hosts (:data:`ADDRESSES`) joined by veth links to a bridge on the broker host; :meth:`argv` runs a
    command on one of them, :meth:`netns` is the path a process or thread joins."""

    def __init__(self, log_dir: str | Path | None = None) -> None:
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="bench-hosts-"))
        self.holders: dict[str, ManagedProcess] = {}
        #: The harness's own namespace: where the services listen (the proxy connects from there).
        self.root = f"/proc/{os.getpid()}/ns/net"

    def __repr__(self) -> str:
        return f"<NetnsHosts {self.pids()}>"

    def pids(self) -> dict[str, int]:
        """Each host's holder process id."""
        return {role: holder.pid for role, holder in self.holders.items() if holder.pid is not None}

    def netns(self, role: str) -> str:
        """The namespace of host ``role`` (``broker``, ``workers``, ``app``)."""
        return f"/proc/{self.holders[role].pid}/ns/net"

    def argv(self, role: str, argv: list[str]) -> list[str]:
        """``argv`` run on host ``role`` (``nsenter`` joins the namespace and execs it: the same process)."""
        return ["nsenter", f"--net={self.netns(role)}", "--", *argv]

    def root_argv(self, argv: list[str]) -> list[str]:
        """``argv`` run in the harness's own namespace from any host (the private RabbitMQ node's CLI, which
        reaches the node on the harness's loopback)."""
        return ["nsenter", f"--net={self.root}", "--", *argv]

    def _ip(self, role: str, *args: str) -> None:
        done = subprocess.run(self.argv(role, ["ip", *args]), capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise ServiceError(f"ip {' '.join(args)} on the {role} host failed: {done.stderr.strip()}")

    def start(self, timeout: float = 10.0) -> NetnsHosts:
        """Make the namespaces and links; raise :class:`HostsUnavailable` when the machine cannot."""
        reason = unavailable_reason()
        if reason:
            raise HostsUnavailable(f"--hosts netns {reason}")
        own = os.readlink("/proc/self/ns/net")
        try:
            for role in ADDRESSES:
                holder = ManagedProcess(
                    ["unshare", "--net", "--", "sleep", "infinity"],
                    log_path=self.log_dir / f"host-{role}.log",
                    name=f"{role} host (network namespace)",
                )
                self.holders[role] = holder.start()
            deadline = time.monotonic() + timeout
            for role in ADDRESSES:
                # unshare execs sleep once its namespace exists: wait until the holder is in a namespace of its own.
                while _readlink(self.netns(role)) in (None, own):
                    if time.monotonic() > deadline or not self.holders[role].alive():
                        raise ServiceError(f"the {role} host's namespace did not appear within {timeout:g} s")
                    time.sleep(0.01)
            self._link()
        except BaseException:
            self.stop()
            raise
        return self

    def _link(self) -> None:
        for role in ADDRESSES:
            self._ip(role, "link", "set", "lo", "up")
        self._ip("broker", "link", "add", "br0", "type", "bridge")
        self._ip("broker", "addr", "add", f"{BROKER_ADDRESS}/{PREFIX_LEN}", "dev", "br0")
        self._ip("broker", "link", "set", "br0", "up")
        for role in ("workers", "app"):
            # Made on the broker host with its other end moved straight to the client host: never in the root one.
            peer = self.holders[role].pid
            self._ip("broker", "link", "add", f"to-{role}", "type", "veth", "peer", "name", "eth0", "netns", str(peer))
            self._ip("broker", "link", "set", f"to-{role}", "master", "br0")
            self._ip("broker", "link", "set", f"to-{role}", "up")
            self._ip(role, "addr", "add", f"{ADDRESSES[role]}/{PREFIX_LEN}", "dev", "eth0")
            self._ip(role, "link", "set", "eth0", "up")

    def stop(self) -> None:
        """Stop the holders: the namespaces, and the links in them, end with their last process."""
        for holder in self.holders.values():
            holder.stop()

    def as_dict(self) -> dict[str, Any]:
        """What a record says of the hosts it was measured on."""
        return {"mode": "netns", "addresses": dict(ADDRESSES)}

    def __enter__(self) -> NetnsHosts:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readlink(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
