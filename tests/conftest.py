"""Session fixtures for the tests that need real services: a private Redis, an SMTP sink, work directories.

Everything is started once per session and stopped at the end; nothing touches the machine's own Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.backends import Backend, load_backends
from bench.services import RedisServer, SmtpSink
from bench.verify import VerificationReport, verify_backend

#: pytest-timeout's limit for tests marked ``slow`` (real workers of every backend on a shared 2-core machine).
SLOW_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` get :data:`SLOW_TIMEOUT_S` unless they carry their own ``timeout`` mark."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private ``redis-server`` on a free port (flush it yourself if a test needs it empty)."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def smtp_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    """An aiosmtpd sink writing to a maildir under the session's temp directory."""
    with SmtpSink(tmp_path_factory.mktemp("smtp") / "maildir") as sink:
        yield sink


@pytest.fixture(scope="session")
def bench_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where backends get their SQLite database, media files, channel and logs during the session."""
    return tmp_path_factory.mktemp("bench")


@pytest.fixture(scope="session")
def backends() -> dict[str, Backend]:
    """Every backend project of the repository, by name."""
    return load_backends()


@pytest.fixture(scope="session")
def verification(
    redis_server: RedisServer, smtp_sink: SmtpSink, bench_workdir: Path, backends: dict[str, Backend]
) -> Callable[[str], VerificationReport]:
    """``verification(name)`` runs :func:`verify_backend` for that backend once per session and caches the report."""
    reports: dict[str, VerificationReport] = {}

    def get(name: str) -> VerificationReport:
        if name not in reports:
            reports[name] = verify_backend(
                backends[name], redis=redis_server, smtp=smtp_sink, workdir=bench_workdir, processes=2
            )
        return reports[name]

    return get
