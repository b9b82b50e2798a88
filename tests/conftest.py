"""Session fixtures for the tests that need real services: a private Redis, an SMTP sink, work directories.

Everything is started once per session and stopped at the end; nothing touches the machine's own Redis.

Tests marked ``unit`` form the fast tier (``nox -s unit``): they need no worker, broker, database server or SMTP
sink. The tier stays honest by construction: a ``unit`` test that requests a service fixture is a collection error,
and one that starts a service program itself fails (see :func:`_forbid_services_in_unit_tests`).

The smoke run of tests/test_pipeline.py (``python -m bench --preset smoke`` over every backend, ~8 min on a 2-core
machine) is started as soon as collection ends, when a collected test uses ``smoke_run``: it runs beside the other
tests (they mostly wait on workers and windows) and is done, or nearly, when test_pipeline.py reads its results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bench.backends import Backend, load_backends
from bench.results import load_results, write_results
from bench.services import RedisServer, SmtpSink, set_parent_death_signal
from bench.verify import VerificationReport, verify_backend
from tests.side_by_side import THREADS as SIDE_BY_SIDE

#: pytest-timeout's limit for tests marked ``slow`` (real workers of every backend on a shared 2-core machine).
SLOW_TIMEOUT_S = 900
REPO = Path(__file__).resolve().parent.parent
#: The longest the smoke run may take from its start (beside the rest of the suite) before it counts as hung.
SMOKE_TIMEOUT_S = 1800
#: Fixtures that start (or need) a real service: a ``unit`` test may not request them, even indirectly.
SERVICE_FIXTURES = frozenset({"redis_server", "smtp_sink", "verification", "smoke_run", "postgres", "rabbitmq"})
#: Programs a ``unit`` test may not start: the services' servers (the fixtures above start them too).
SERVICE_PROGRAMS = frozenset({"redis-server", "postgres", "pg_ctl", "initdb", "rabbitmq-server", "epmd"})


@dataclass
class SmokeRun:
    """The background ``python -m bench --preset smoke``: its process, results directory and output log."""

    proc: subprocess.Popen[bytes]
    out: Path
    log: Path
    started: float

    def wait(self) -> int:
        """Its exit status, waiting for it up to :data:`SMOKE_TIMEOUT_S` after its start."""
        return self.proc.wait(timeout=max(1.0, SMOKE_TIMEOUT_S - (time.monotonic() - self.started)))

    def stop(self) -> None:
        """SIGTERM (the harness then stops its workers and services), SIGKILL if it does not end within a minute."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


SMOKE_RUN = pytest.StashKey[SmokeRun]()


def start_smoke_run(config: pytest.Config) -> SmokeRun:
    """Start the smoke run of every backend and floor (as ``nox -s bench -- --preset smoke``) in the background."""
    out = config._tmp_path_factory.mktemp("smoke")  # type: ignore[attr-defined]  # the tmp_path_factory fixture's
    log = out.parent / f"{out.name}.log"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench", "--preset", "smoke", "--out", str(out)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            # Should pytest itself die (a timeout's os._exit, a SIGKILL), the kernel sends the run SIGTERM.
            preexec_fn=set_parent_death_signal,
        )
    return SmokeRun(proc, out, log, time.monotonic())


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the smoke run now if a collected test needs it (not for ``--collect-only``)."""
    if session.config.option.collectonly:
        return
    if any("smoke_run" in getattr(item, "fixturenames", ()) for item in session.items):
        session.config.stash[SMOKE_RUN] = start_smoke_run(session.config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A smoke run still going (the session was interrupted or ended early) is stopped with everything it started."""
    run = session.config.stash.get(SMOKE_RUN, None)
    if run is not None:
        run.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` get :data:`SLOW_TIMEOUT_S` unless they carry their own ``timeout`` mark.

    The tests reading the smoke run go last: every other test runs while the smoke run (started in the background
    when collection ends) is still going, instead of the suite waiting for it in the middle.

    A ``unit`` test requesting a service fixture stops the session here, in every run (not only with ``-m unit``).
    """
    mislabelled = [
        f"{item.nodeid} uses {', '.join(sorted(uses))}"
        for item in items
        if item.get_closest_marker("unit") and (uses := SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))
    ]
    if mislabelled:
        raise pytest.UsageError("tests marked unit must not need a service: " + "; ".join(mislabelled))
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
    items.sort(key=lambda item: "smoke_run" in getattr(item, "fixturenames", ()))  # stable: keeps the order else


#: Whether a ``unit`` test is being set up or run right now (read by the audit hook below).
_IN_UNIT_TEST = False


def _forbid_services_in_unit_tests(event: str, args: tuple[object, ...]) -> None:
    """Audit hook: starting a service program (:data:`SERVICE_PROGRAMS`) inside a ``unit`` test raises."""
    if _IN_UNIT_TEST and event == "subprocess.Popen" and Path(str(args[0])).name in SERVICE_PROGRAMS:
        raise RuntimeError(f"a unit test may not start {args[0]}: remove its `unit` mark")


sys.addaudithook(_forbid_services_in_unit_tests)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Arm the audit hook while a ``unit`` test's own fixtures are set up (teardowns of others' may stop servers)."""
    return (yield from _armed_for(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Arm the audit hook while a ``unit`` test runs."""
    return (yield from _armed_for(item))


def _armed_for(item: pytest.Item) -> Iterator[None]:
    global _IN_UNIT_TEST  # the audit hook cannot be given the item: it reads this flag
    _IN_UNIT_TEST = item.get_closest_marker("unit") is not None
    try:
        return (yield)
    finally:
        _IN_UNIT_TEST = False


def empty_run_results(path: Path) -> Path:
    """The fixture's run, environment and backends without a single record, written to ``path``: its report has no
    chart and takes ~1 s instead of ~10 s (for tests of the command line, not of the report's content:
    test_report.py checks that on the whole fixture)."""
    full = load_results(REPO / "tests" / "fixtures" / "results-small.json")
    write_results(path, replace(full, records=()))
    return path


@pytest.fixture(scope="session")
def fixture_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the committed fixture's report (tests/fixtures/results-small.json: report.md, report.html and
    the charts), written once per session: test_report.py checks its content, other tests compare theirs with it
    (read it, never write into it). A report with charts takes seconds of CPU to write."""
    from bench.report import write_report  # matplotlib: imported only by the sessions that write a report

    out = tmp_path_factory.mktemp("fixture-report")
    write_report(load_results(REPO / "tests" / "fixtures" / "results-small.json"), out)
    return out


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
    request: pytest.FixtureRequest, bench_workdir: Path, backends: dict[str, Backend]
) -> Iterator[Callable[[str], VerificationReport]]:
    """``verification(name)`` runs :func:`verify_backend` for that backend once per session and caches the report.

    The first call starts the verification of every backend a selected test asks for (its ``name`` parameter; all
    available backends for a test without one) side by side (tests/side_by_side.py), each on a Redis and an SMTP sink
    of its own: a verification flushes both, and mostly waits on its workers.
    """
    wanted: list[str] = []
    for item in request.session.items:
        if "verification" in getattr(item, "fixturenames", ()):
            callspec = getattr(item, "callspec", None)
            names = [callspec.params["name"]] if callspec and "name" in callspec.params else list(backends)
            wanted += [n for n in names if n not in wanted and not backends[n].unmet_requirements()]
    reports: dict[str, Future[VerificationReport]] = {}

    def verify(name: str) -> VerificationReport:
        with RedisServer() as redis, SmtpSink(bench_workdir / f"smtp-{name}" / "maildir") as smtp:
            return verify_backend(backends[name], redis=redis, smtp=smtp, workdir=bench_workdir, processes=2)

    with ThreadPoolExecutor(SIDE_BY_SIDE, thread_name_prefix="verification") as pool:

        def get(name: str) -> VerificationReport:
            if not reports:
                reports.update((n, pool.submit(verify, n)) for n in wanted)
            if name not in reports:
                reports[name] = pool.submit(verify, name)
            return reports[name].result()

        yield get
        for future in reports.values():
            future.cancel()


@pytest.fixture(scope="session")
def smoke_run(request: pytest.FixtureRequest) -> Path:
    """The results directory of the smoke run started at collection (see the module docstring), once it ended well."""
    run = request.config.stash.get(SMOKE_RUN, None)
    if run is None:  # requested dynamically: start it now
        run = request.config.stash[SMOKE_RUN] = start_smoke_run(request.config)
    status = run.wait()
    output = run.log.read_text(errors="replace")
    assert status == 0, f"the smoke run exited with {status}; its output ({run.log}) ends:\n{output[-3000:]}"
    return run.out
