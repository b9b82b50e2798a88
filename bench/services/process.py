"""Processes the harness starts, stopped for sure.

:class:`ManagedProcess` / :class:`ProcessGroup`: a command in its own session, logged to a file, stopped with SIGTERM
and then SIGKILL of its whole process tree. Every started process is kept in a module-level registry that an
``atexit`` hook and SIGTERM/SIGHUP handlers drain, so Ctrl-C or a crash of the harness leaves nothing running; every
child also gets SIGTERM from the kernel if the harness dies (``PR_SET_PDEATHSIG``, :func:`set_parent_death_signal`).
Also the small helpers every service uses: :func:`free_port`, :func:`wait_for_port`, :func:`usage`.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil

from bench.errors import ServiceError

log = logging.getLogger(__name__)


LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it; a tiny race remains, as with any such call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for_port(host: str, port: int, timeout: float, *, process: ManagedProcess | None = None) -> None:
    """Wait until ``host:port`` accepts TCP connections; stop early with an error if ``process`` died."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        if process is not None and not process.alive():
            raise ServiceError(
                f"{process.name} exited with status {process.returncode} before listening on "
                f"{host}:{port}; see {process.log_path}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.05)


# --------------------------------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------------------------------

_registry: set[ManagedProcess] = set()
_registry_lock = threading.Lock()
_handlers_installed = False
#: Directories removed by :func:`stop_all` once the processes are stopped (a private cluster's, should its own
#: supervisor have been SIGKILLed before it removed it).
_directories: set[Path] = set()

_PR_SET_PDEATHSIG = 1
try:
    # Resolved in the parent: the child must not dlopen between fork and exec.
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
except (OSError, AttributeError):
    _prctl = None


#: The pid of the process that last forked (set in it just before the fork, inherited by the child).
_forked_by = 0


def _remember_forking_parent() -> None:
    global _forked_by
    _forked_by = os.getpid()


# Popen runs the at-fork hooks whenever it has a preexec_fn, which every child armed below has.
os.register_at_fork(before=_remember_forking_parent)


def set_parent_death_signal() -> None:
    """Ask the kernel to send this process SIGTERM when its parent dies (a ``preexec_fn``; Linux only)."""
    # Runs in the child between fork and exec: if the harness dies even by SIGKILL, the kernel sends SIGTERM to
    # this child (only the direct child; the SIGTERM lets it stop its own children).
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        # A parent that died between the fork and the prctl sent nothing: the child is already an orphan, and ends as
        # the signal would have ended it (not by os.kill: a SIGTERM handler inherited from the harness would keep it).
        if _forked_by and os.getppid() != _forked_by:
            os._exit(128 + signal.SIGTERM)


def child_setup(user: str | None, death_signal: bool) -> Callable[[], None] | None:
    """The ``preexec_fn`` of a child: become ``user`` (if given), then arm the parent-death signal (if asked).

    The order matters: the kernel clears the parent-death signal when a process changes its credentials, and
    Popen's own ``user=``/``group=`` switch comes after ``preexec_fn`` (measured: with ``Popen(user=...)`` the
    signal never came), so the switch is done here, first.
    """
    if user is None and not death_signal:
        return None
    ids = None
    if user is not None:
        entry = pwd.getpwnam(user)  # resolved in the parent: no NSS lookups between fork and exec
        ids = (entry.pw_uid, entry.pw_gid)

    def setup() -> None:
        if ids is not None:
            os.setgroups([])  # drop root's supplementary groups too
            os.setgid(ids[1])
            os.setuid(ids[0])
        if death_signal:
            set_parent_death_signal()

    return setup


# A server's supervisor: runs the server in the background, turns SIGTERM/SIGINT/SIGHUP into the server's own stop
# signal, and once the server is gone (however it ended) removes the server's directory, unless a ``keep`` file in it
# says a restart follows. Made the harness's direct child, it gets the parent-death signal even when the harness is
# SIGKILLed, so the directory goes with the server.
_SUPERVISOR = """
dir=$1; sig=$2; shift 2
"$@" &
pid=$!
trap 'kill -"$sig" "$pid" 2>/dev/null' TERM INT HUP
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
[ -e "$dir/keep" ] || rm -rf -- "$dir"
"""


def supervised(name: str, directory: Path, stop_signal: str, argv: Sequence[str]) -> list[str]:
    """The command line running ``argv`` under the supervisor: stopped with ``stop_signal`` (``TERM``, ``QUIT``),
    ``directory`` removed after it unless ``directory/keep`` exists."""
    return ["/bin/sh", "-c", _SUPERVISOR, name, str(directory), stop_signal, *(str(a) for a in argv)]


class ServiceContext:
    """``with service:`` starts it and cleans it up (mixed into the service classes, which define both)."""

    def start(self) -> Self:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def remove_at_exit(directory: Path) -> None:
    """Have :func:`stop_all` remove ``directory`` once every process is stopped (a server's data directory)."""
    with _registry_lock:
        _directories.add(directory)


def forget_at_exit(directory: Path) -> None:
    """Undo :func:`remove_at_exit` (the directory was removed already)."""
    with _registry_lock:
        _directories.discard(directory)


def stop_all(timeout: float = 5.0) -> None:
    """Stop every process this module started and that still runs (the ``atexit`` and signal handlers call it)."""
    with _registry_lock:
        processes = list(_registry)
    for process in processes:
        with contextlib.suppress(Exception):
            process.stop(timeout)
    with _registry_lock:
        directories = list(_directories)
        _directories.clear()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


def _on_terminate(signum: int, frame: object) -> None:
    # Stop our processes, then die of the same signal as if no handler were set (so callers see the usual status).
    stop_all(timeout=3.0)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    """Register the ``atexit`` hook once and, from the main thread, SIGTERM/SIGHUP handlers if none are set.

    SIGINT needs nothing: Python raises ``KeyboardInterrupt``, which unwinds through context managers and ends in
    ``atexit``. Handlers that someone else installed (pytest, the lead's CLI) are left alone.
    """
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) in (signal.SIG_DFL, None):
                signal.signal(signum, _on_terminate)


class ManagedProcess:
    """One command started in its own session (its own process group), logged to a file.

    ``stop()`` sends SIGTERM to the root process, waits, then SIGKILLs whatever is left of the whole tree (psutil's
    recursive children plus the process group), so forked pool children and grandchildren never outlive it.
    SIGTERM goes to the root only by default, as a process manager does: every worker CLI here shuts its own pool
    down on it, while a SIGTERM to each pool process makes some of them hang (django-q2's qcluster never exits).
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        name: str | None = None,
        user: str | None = None,
    ) -> None:
        self.argv = [str(a) for a in argv]
        #: Run as this (unprivileged) account; needs root. ``None``: as the harness's own user.
        self.user = user
        self.env = dict(env) if env is not None else None
        self.cwd = Path(cwd) if cwd is not None else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.name = name or Path(self.argv[0]).name
        self._popen: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.pid}>"

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the command; a missing executable raises :class:`ServiceError`."""
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        _install_handlers()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out: int | object = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        else:
            out = subprocess.DEVNULL
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            self._popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # The parent-death signal is tied to the forking *thread*; only use it from the main thread.
                preexec_fn=child_setup(self.user, main_thread and _prctl is not None),
            )
        except FileNotFoundError as exc:
            raise ServiceError(f"cannot start {self.name}: {self.argv[0]!r} not found") from exc
        finally:
            if not isinstance(out, int):
                out.close()  # type: ignore[attr-defined]
        with _registry_lock:
            _registry.add(self)
        return self

    @property
    def pid(self) -> int | None:
        """The root process's pid (also the process group id), or ``None`` before ``start()``."""
        return self._popen.pid if self._popen is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the root process ended (negative = killed by that signal)."""
        return self._popen.poll() if self._popen is not None else None

    def alive(self) -> bool:
        """Whether the root process still runs."""
        return self._popen is not None and self._popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the root process to end and return its status; ``subprocess.TimeoutExpired`` on timeout."""
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen.wait(timeout)

    def tree(self) -> list[psutil.Process]:
        """The root process and all its descendants that are alive now (for RSS/CPU measurement)."""
        if not self.alive():
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def pids(self) -> list[int]:
        """The pids of :meth:`tree`."""
        return [p.pid for p in self.tree()]

    def _group_members(self) -> list[psutil.Process]:
        # Processes still in our process group, even if reparented to init after their parent died.
        members = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error, ProcessLookupError):
                if proc.pid != self.pid and os.getpgid(proc.pid) == self.pid:
                    members.append(proc)
        return members

    def send_signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the process group (``group=True``) or to the root process only."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group:
                os.killpg(self.pid, signum)
            elif self.alive():
                os.kill(self.pid, signum)

    def stop(self, timeout: float = 10.0, *, group: bool = False) -> int | None:
        """SIGTERM (to the group, or the root with ``group=False``), wait up to ``timeout``, then SIGKILL the tree.

        Returns the root's exit status. Safe to call twice and on a process that already ended.
        """
        if self._popen is None:
            return None
        # Snapshot the descendants first: once the root exits they are reparented and psutil no longer links them.
        descendants = self._descendants()
        if self.alive():
            self.send_signal(signal.SIGTERM, group=group)
            deadline = time.monotonic() + timeout
            # The root is waited for through Popen only: psutil would reap it and lose its exit status.
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(timeout)
            _wait_gone(descendants, max(0.0, deadline - time.monotonic()))
        self._kill_everything(descendants)
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL the whole tree now (fault scenarios: a crashed worker, no graceful shutdown)."""
        if self._popen is None:
            return None
        self._kill_everything(self._descendants())
        return self._finish()

    def _descendants(self) -> list[psutil.Process]:
        return [p for p in self.tree() if p.pid != self.pid]

    def _kill_everything(self, known: Sequence[psutil.Process]) -> None:
        victims = {p.pid: p for p in [*known, *self._descendants(), *self._group_members()] if p.pid != self.pid}
        for proc in list(victims.values()):
            # Children of survivors may have been forked after the snapshot.
            with contextlib.suppress(psutil.Error):
                for child in proc.children(recursive=True):
                    victims.setdefault(child.pid, child)
        self.send_signal(signal.SIGKILL, group=True)
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)  # type: ignore[arg-type]
        for proc in victims.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _wait_gone(list(victims.values()), 5.0)

    def _finish(self) -> int | None:
        assert self._popen is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(5)
        with _registry_lock:
            _registry.discard(self)
        return self._popen.returncode

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the log file (for error messages)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self if self.alive() else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _gone(proc: psutil.Process) -> bool:
    try:
        # A zombie has exited; when init in a container never reaps it, waiting for it would only time out.
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: Sequence[psutil.Process], timeout: float) -> None:
    """Wait until every process has exited (zombies count) or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while not all(_gone(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.02)


@dataclass(frozen=True)
class Usage:
    """CPU and memory of a set of processes, summed."""

    cpu_seconds: float  # user + system, of the processes alive now (ended children not counted)
    rss_bytes: int
    pss_bytes: int  # proportional set size: pages shared by forked processes counted once overall (Linux)


def usage(processes: Iterable[psutil.Process]) -> Usage:
    """CPU seconds, RSS and PSS summed over ``processes`` (one that vanished meanwhile counts as nothing)."""
    cpu, rss, pss = 0.0, 0, 0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            info = proc.memory_full_info()
            cpu += times.user + times.system
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
    return Usage(cpu, rss, pss)


class OneProcessService:
    """A service that is one :class:`ManagedProcess` listening on a port (the SMTP sink, the delay proxy)."""

    process: ManagedProcess | None = None

    def _start_listening(self, process: ManagedProcess, port: int, timeout: float) -> None:
        """Start ``process`` and wait until it listens on ``port`` of 127.0.0.1; stopped again if it does not."""
        self.process = process.start()
        try:
            wait_for_port(LOOPBACK, port, timeout, process=process)
        except ServiceError:
            process.stop()
            raise

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process."""
        if self.process is not None:
            self.process.stop(timeout)

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.alive()


class ProcessGroup:
    """Several :class:`ManagedProcess` stopped together (e.g. a backend's workers plus the web server).

    ``with ProcessGroup() as group: group.start([...])`` — leaving the block stops them all, in reverse order.
    """

    def __init__(self) -> None:
        self.processes: list[ManagedProcess] = []

    def start(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        name: str | None = None,
    ) -> ManagedProcess:
        """Start one more process in this group and return it."""
        process = ManagedProcess(argv, env=env, cwd=cwd, log_path=log_path, name=name).start()
        self.processes.append(process)
        return process

    def tree(self) -> list[psutil.Process]:
        """Every live process of every member (roots and descendants)."""
        return [p for process in self.processes for p in process.tree()]

    def pids(self) -> list[int]:
        """The pids of :meth:`tree`."""
        return [p.pid for p in self.tree()]

    def rss_bytes(self) -> int:
        """Resident memory of the whole group now, in bytes."""
        return usage(self.tree()).rss_bytes

    def cpu_seconds(self) -> float:
        """User+system CPU seconds used so far by the live processes of the group (ended children not counted)."""
        return usage(self.tree()).cpu_seconds

    def alive(self) -> bool:
        """Whether every member's root process still runs."""
        return bool(self.processes) and all(p.alive() for p in self.processes)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every member, last started first."""
        for process in reversed(self.processes):
            process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL every member's tree."""
        for process in reversed(self.processes):
            process.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
