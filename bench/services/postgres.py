"""PostgreSQL: a private cluster (:class:`PostgresServer`) or the user's (:class:`ExternalPostgres`,
``--database-url``).

Django's database for every backend: a database per backend, profile and session kind, created on first use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, Self

from bench.errors import ServiceError
from bench.services.process import (
    LOOPBACK,
    ManagedProcess,
    child_setup,
    forget_at_exit,
    free_port,
    remove_at_exit,
    supervised,
)

log = logging.getLogger(__name__)


#: The account a private PostgreSQL runs as when the harness runs as root (initdb and postgres refuse root). Not
#: Debian's ``postgres`` account: it owns the machine's own clusters (/var/lib/postgresql), so a server running as it
#: could write into them. This one owns nothing but the private cluster's temporary directory.
PG_SERVICE_USER = "queue-bench"
#: The superuser role of a private cluster (trust authentication, loopback only).
PG_ROLE = "bench"
_PG_SCHEMES = ("postgres", "postgresql")
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The cluster runs under process.supervised: PostgreSQL's immediate shutdown (SIGQUIT: sessions ended, no shutdown
# checkpoint — the cluster is thrown away, and a checkpoint would first fsync everything initdb wrote with
# --no-sync), and the cluster's directory removed once postgres is gone, however it ended. (`pg_ctl start` is not
# used: it detaches the postmaster into a session of its own, out of reach of the process registry and the
# parent-death signal.)


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
        assert self.base_dir is not None
        return supervised("bench-postgres", self.base_dir, "QUIT", [
            str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
            "-c", f"listen_addresses={LOOPBACK}",
            "-c", f"unix_socket_directories={self.base_dir}",
            "-c", "unix_socket_permissions=0700",
            *(arg for name, value in self.settings.items() for arg in ("-c", f"{name}={value}")),
        ])  # fmt: skip

    def start(self) -> Self:
        """initdb, start the server, wait until it accepts connections, create the run's database."""
        if self.alive():
            return self
        self.user = pg_service_user()
        self.base_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        remove_at_exit(self.base_dir)
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
            preexec_fn=child_setup(self.user, False),
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
            forget_at_exit(self.base_dir)

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
