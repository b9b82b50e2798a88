"""RabbitMQ: a private node (:class:`RabbitMQServer`) or the user's broker (:class:`ExternalRabbitMQ`, ``--amqp-url``).

The private node runs beside any node already on the machine (Debian starts one on 5672): its own node name, AMQP
port, distribution port, Erlang cookie, data and log directories and config file, all in one temporary directory;
no plugins; its own ``epmd`` on its own port, so nothing is registered with (or left behind in) the machine's epmd.
It can be stopped, crashed (SIGKILL of the Erlang VM) and started again on the same ports and data (fault scenarios).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import NoReturn, Self

import psutil

from bench.errors import ServiceError, UsageError
from bench.services.process import (
    LOOPBACK,
    ManagedProcess,
    ServiceContext,
    forget_at_exit,
    free_port,
    remove_at_exit,
    supervised,
)

#: The account the node runs as when the harness is root: Debian's own, as its ``rabbitmq-server`` wrapper does
#: (the Erlang runtime refuses nothing as root, but the package's files are readable to this account).
RABBITMQ_SERVICE_USER = "rabbitmq"
#: Starts of the node before a start fails (a start script that exits at once is tried again), and the pause
#: between them.
START_ATTEMPTS = 3
RETRY_PAUSE_S = 2.0
#: Debian's unwrapped start script (its /usr/sbin wrapper `su`s and `cd`s into the machine node's home).
_DEBIAN_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def find_rabbitmq_server() -> Path:
    """The ``rabbitmq-server`` start script: Debian's unwrapped one, else the one on PATH; a one-line error."""
    if os.access(_DEBIAN_SCRIPT, os.X_OK):
        return _DEBIAN_SCRIPT
    found = shutil.which("rabbitmq-server")
    if found:
        return Path(found)
    raise ServiceError(
        "rabbitmq-server not found: install it (Debian/Ubuntu: `sudo apt-get install rabbitmq-server`) "
        "or pass --amqp-url"
    )


def find_rabbitmqctl(server_script: Path) -> Path:
    """``rabbitmqctl`` beside the start script (Debian's unwrapped one), else the one on PATH."""
    beside = server_script.parent / "rabbitmqctl"
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which("rabbitmqctl")
    if found:
        return Path(found)
    raise ServiceError("rabbitmqctl not found beside rabbitmq-server or on PATH")


def find_epmd() -> Path:
    """The Erlang port mapper daemon of the installed runtime."""
    found = shutil.which("epmd")
    candidates = [found] if found else []
    candidates += sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"), reverse=True)
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ServiceError("epmd (the Erlang port mapper) not found: install erlang-base, or pass --amqp-url")


def rabbitmq_available() -> str | None:
    """``None`` when a private RabbitMQ node can be started here, else the one-line reason why not."""
    try:
        find_rabbitmq_server()
        find_epmd()
    except ServiceError as exc:
        return str(exc)
    return None


def rabbitmq_service_user() -> str | None:
    """The account the node runs as: ``None`` (the harness's own) unless the harness is root and
    :data:`RABBITMQ_SERVICE_USER` exists (Debian's package creates it)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(RABBITMQ_SERVICE_USER)
    except KeyError:
        return None
    return RABBITMQ_SERVICE_USER


def amqp_connection(url: str, *, timeout: float = 2.0):  # -> amqp.Connection (py-amqp, installed with kombu)
    """A connected py-amqp connection to ``url`` (``amqp://user:password@host:port/vhost``)."""
    import amqp

    parts = urllib.parse.urlsplit(url)
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        host=f"{parts.hostname or LOOPBACK}:{parts.port or 5672}",
        userid=urllib.parse.unquote(parts.username or "guest"),
        password=urllib.parse.unquote(parts.password or "guest"),
        virtual_host=vhost,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
    )
    conn.connect()
    return conn


def server_version(url: str) -> str:
    """The version the broker at ``url`` announces on connection."""
    conn = amqp_connection(url)
    try:
        return str(conn.server_properties.get("version", "?"))
    finally:
        conn.close()


def check_amqp_url(url: str) -> None:
    """Raise a one-line :class:`UsageError` unless ``url`` is an ``amqp://`` URL with a host."""
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise UsageError(f"malformed AMQP URL {url!r}: {exc}") from None
    if parts.scheme != "amqp" or not parts.hostname:
        raise UsageError(f"malformed AMQP URL {url!r}: expected amqp://user:password@host:port/vhost")


def check_amqp_reachable(url: str) -> None:
    """``--amqp-url`` at start: a one-line :class:`UsageError` (exit 2) unless the URL is well formed and the broker
    accepts an AMQP connection."""
    try:
        ExternalRabbitMQ(url).start()
    except ServiceError as exc:
        raise UsageError(str(exc)) from None


def _probe(url: str) -> Exception | None:
    """``None`` when an AMQP connection to ``url`` opens, else why not."""
    try:
        amqp_connection(url).close()
    except Exception as exc:  # socket errors, AMQP access refusals, timeouts
        return exc
    return None


class RabbitMQServer(ServiceContext):
    """A private RabbitMQ node on free 127.0.0.1 ports, with its own directory, cookie and ``epmd``.

    ``consumer_timeout_ms`` sets the broker's ``consumer_timeout`` (a consumer holding an unacknowledged message
    longer has its channel closed; RabbitMQ's default is 30 min) and, with it, how often each channel checks it
    (``channel_tick_interval``, 60 s by default: a 5-s timeout would act up to a minute late). ``stop()``/``kill()``
    then ``start()`` keep the ports and the data (durable queues, persistent messages); ``cleanup()`` removes
    everything.
    """

    def __init__(self, *, consumer_timeout_ms: int | None = None, start_timeout: float = 60.0) -> None:
        self.script = find_rabbitmq_server()
        self.epmd_binary = find_epmd()
        self.consumer_timeout_ms = consumer_timeout_ms
        self.start_timeout = start_timeout
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node_name = f"bench-{self.port}@localhost"
        self.user: str | None = None
        self.base_dir: Path | None = None
        self.process: ManagedProcess | None = None
        self.epmd: ManagedProcess | None = None
        #: Starts tried again because the start script exited at once (see :meth:`start`).
        self.start_retries = 0

    def __repr__(self) -> str:
        return f"<RabbitMQServer {self.node_name} {self.url} dir={self.base_dir}>"

    @property
    def url(self) -> str:
        """``amqp://guest:guest@127.0.0.1:<port>/`` (the default virtual host)."""
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}/"

    @property
    def log_path(self) -> Path:
        """The start script's output (the node's own logs are beside it in ``log/``)."""
        assert self.base_dir is not None, "not started"
        return self.base_dir / "rabbitmq-server.log"

    def config(self) -> str:
        """The node's ``rabbitmq.conf``."""
        lines = [
            "# written by bench.services.RabbitMQServer",
            f"listeners.tcp.1 = {LOOPBACK}:{self.port}",
            "log.file.level = warning",
        ]
        if self.consumer_timeout_ms is not None:
            lines.append(f"consumer_timeout = {int(self.consumer_timeout_ms)}")
        return "\n".join(lines) + "\n"

    def _environment(self) -> dict[str, str]:
        # Nothing of the harness's environment (ERL_FLAGS, RABBITMQ_* would redirect the node), and not Debian's
        # /etc/rabbitmq/rabbitmq-env.conf either (it names the machine's node).
        assert self.base_dir is not None
        d = self.base_dir
        return {
            "PATH": f"{self.epmd_binary.parent}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(d),  # where the Erlang cookie is
            "LC_ALL": "C.UTF-8",
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": LOOPBACK,
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}" + self._tick_args(),
        }

    def _tick_args(self) -> str:
        """With a shortened ``consumer_timeout``: a channel tick of a fifth of it (at most 1 s), so the node acts on
        the timeout when it is due instead of at its next minute tick (an application setting of ``rabbit``
        rabbitmq.conf has no key for)."""
        if self.consumer_timeout_ms is None:
            return ""
        return f" -rabbit channel_tick_interval {max(100, min(1000, int(self.consumer_timeout_ms) // 5))}"

    def _prepare(self) -> None:
        """The temporary directory with config, empty plugin list and cookie, owned by the node's account."""
        self.user = rabbitmq_service_user()
        self.base_dir = d = Path(tempfile.mkdtemp(prefix="bench-rabbitmq-"))
        remove_at_exit(d)
        for sub in ("mnesia", "log"):
            (d / sub).mkdir()
        (d / "rabbitmq-env.conf").write_text("")
        (d / "enabled_plugins").write_text("[].\n")
        cookie = d / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            for path in [d, *d.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> Self:
        """Start ``epmd`` and the node (again, after ``stop()``/``kill()``); wait until an AMQP connection opens."""
        if self.alive():
            return self
        started = time.monotonic()
        try:
            if self.base_dir is None:
                self._prepare()
            assert self.base_dir is not None
            # Kept while the node starts (a start that fails is tried again on the same data); removed once it is
            # up, so the directory goes with a node that later ends by itself.
            (self.base_dir / "keep").touch()
            # Written at every start: a restart applies a changed consumer_timeout_ms (a fault shortens it).
            conf = self.base_dir / "rabbitmq.conf"
            conf.write_text(self.config())
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                os.chown(conf, entry.pw_uid, entry.pw_gid)
            if self.process is not None:
                self.process.stop(5)  # reap the supervisor of a crashed node
            if self.epmd is None or not self.epmd.alive():
                self.epmd = ManagedProcess(
                    [self.epmd_binary, "-port", str(self.epmd_port), "-address", LOOPBACK],
                    env=self._environment(), cwd=self.base_dir, log_path=self.base_dir / "epmd.log",
                    name="epmd", user=self.user,
                ).start()  # fmt: skip
            for attempt in range(1, START_ATTEMPTS + 1):
                # Under process.supervised: the start script turns SIGTERM into a graceful stop of the VM; the
                # directory goes with the node unless stop()/kill() left a ``keep`` file for a restart.
                self.process = ManagedProcess(
                    supervised("bench-rabbitmq", self.base_dir, "TERM", [self.script]),
                    env=self._environment(), cwd=self.base_dir, log_path=self.log_path, name="rabbitmq-server",
                    user=self.user,
                ).start()  # fmt: skip
                try:
                    self._wait_ready()
                    break
                except ServiceError:
                    # Seen under load on a restart: the start script exits at once (status 0, nothing logged),
                    # as while the stopped VM's name is still registered; a node that stays up and never answers
                    # is not retried.
                    if attempt == START_ATTEMPTS or self.process.alive():
                        raise
                    self.start_retries += 1
                    self.process.stop(5)
                    time.sleep(RETRY_PAUSE_S)
            (self.base_dir / "keep").unlink()
        except BaseException:
            self.cleanup()
            raise
        self.start_seconds = time.monotonic() - started
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            last = _probe(self.url)
            if last is None:
                return
            if not self.process.alive():
                raise ServiceError(
                    f"rabbitmq-server on port {self.port} exited with status {self.process.returncode}: "
                    f"{self.process.log_tail(3)}"
                )
            if time.monotonic() > deadline:
                raise ServiceError(f"RabbitMQ on {LOOPBACK}:{self.port} did not accept AMQP within "
                                   f"{self.start_timeout:.0f} s: {last}")  # fmt: skip
            time.sleep(0.1)

    def ctl_spec(self) -> dict[str, object]:
        """How to run ``rabbitmqctl`` against this node: ``{"argv": [...], "env": {...}}`` (its name, its epmd's
        port, the directory holding its cookie). A queue module's ``locate`` reads the node's counts with it."""
        assert self.base_dir is not None, "not started"
        env = self._environment()
        keep = ("PATH", "HOME", "LC_ALL", "ERL_EPMD_PORT", "ERL_EPMD_ADDRESS", "RABBITMQ_CONF_ENV_FILE")
        return {
            "argv": [str(find_rabbitmqctl(self.script)), "-n", self.node_name],
            "env": {k: env[k] for k in keep},
        }

    def beam_pid(self) -> int | None:
        """The pid of the Erlang VM (``beam.smp``) running the node."""
        if self.process is None:
            return None
        for proc in self.process.tree():
            with contextlib.suppress(psutil.Error):
                if proc.name().startswith("beam"):
                    return proc.pid
        return None

    def _keep(self) -> None:
        if self.base_dir is not None and self.base_dir.exists():
            (self.base_dir / "keep").touch()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node gracefully (SIGTERM: the start script stops the VM cleanly); keeps ports and data."""
        if self.process is not None:
            self._keep()
            self.process.stop(timeout)

    def kill(self) -> None:
        """SIGKILL the Erlang VM (a crash: no graceful shutdown); the supervisor then ends by itself."""
        pid = self.beam_pid()
        self._keep()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            with contextlib.suppress(Exception):
                self.process.wait(10)
            self.process.stop(5)

    def restart(self) -> Self:
        """``stop()`` then ``start()`` on the same ports and data."""
        self.stop()
        return self.start()

    def alive(self) -> bool:
        """Whether the node's processes run."""
        return self.process is not None and self.process.alive()

    def version(self) -> str:
        """The broker's version, as it announces itself on connection."""
        return server_version(self.url)

    def cleanup(self) -> None:
        """Stop the node and its ``epmd`` and remove the directory."""
        if self.base_dir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.base_dir / "keep").unlink()
        if self.process is not None:
            self.process.stop(30)
        if self.epmd is not None:
            self.epmd.stop(5)
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            forget_at_exit(self.base_dir)


class ExternalRabbitMQ(ServiceContext):
    """A broker the user runs (``--amqp-url``): checked for reachability, never stopped, killed or restarted."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __repr__(self) -> str:
        return f"<ExternalRabbitMQ {self.url}>"

    def start(self) -> Self:
        """Check that an AMQP connection opens; a one-line :class:`ServiceError` naming the broker if not."""
        check_amqp_url(self.url)
        last = _probe(self.url)
        if last is not None:
            parts = urllib.parse.urlsplit(self.url)
            raise ServiceError(f"RabbitMQ at {parts.hostname}:{parts.port or 5672} is unreachable: {last}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Nothing: a user's broker is never stopped."""

    def _refuse(self) -> NoReturn:
        """A user's broker is never crashed or restarted."""
        raise ServiceError("fault scenarios need a private RabbitMQ node, not the broker of --amqp-url")

    kill = _refuse
    restart = _refuse

    def alive(self) -> bool:
        """Whether an AMQP connection opens."""
        return _probe(self.url) is None

    def version(self) -> str:
        """The broker's version, as it announces itself on connection."""
        return server_version(self.url)

    def cleanup(self) -> None:
        """Nothing to clean up."""


def rabbitmq_service(url: str | None = None, **kwargs: object) -> RabbitMQServer | ExternalRabbitMQ:
    """``ExternalRabbitMQ(url)`` when the user gave a URL, else a new (not yet started) private node."""
    if url:
        return ExternalRabbitMQ(url)
    return RabbitMQServer(**kwargs)  # type: ignore[arg-type]
