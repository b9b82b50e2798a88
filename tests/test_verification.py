"""Every backend, verified for real: its workers started through its CLI do the shop's work with the right effects.

This is the same :func:`bench.verify.verify_backend` the harness runs before measuring a backend.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.backends import get_backend, load_backends
from bench.errors import BackendUnavailable
from bench.services import RedisServer, SmtpSink
from bench.verify import VerificationReport, expected_report, verify_backend

BACKENDS = sorted(load_backends())


def unavailable_reason(name: str) -> str | None:
    """Why this interpreter cannot run the backend (its backend.toml ``requires``), or ``None``."""
    try:
        get_backend(name).check_available()
    except BackendUnavailable as exc:
        return str(exc)
    return None


#: The backends this interpreter can run; the others are skipped with their one-line reason.
AVAILABLE = [name for name in BACKENDS if unavailable_reason(name) is None]

pytestmark = pytest.mark.slow


def test_the_four_backends_are_verified() -> None:
    assert {"celery", "djangoq", "dramatiq", "huey"} <= set(BACKENDS)


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_does_the_real_work(name: str, verification: Callable[[str], VerificationReport]) -> None:
    if (reason := unavailable_reason(name)) is not None:
        pytest.skip(reason)
    report = verification(name)
    print(report.format())
    assert report.passed, report.format()
    names = {c.name for c in report.checks}
    # Every check of the verification contract is there (a silently skipped check must fail this test).
    for required in (
        "workers ready",
        "invoice email received once",
        "invoice email content",
        "import: products written",
        "malformed imports: nothing written",
        "malformed import bad_rows: rejected with row errors",
        "report content as expected",
    ):
        assert required in names
    assert report.report_files["json"] and report.report_files["csv"]


def test_report_files_identical_across_backends(verification: Callable[[str], VerificationReport]) -> None:
    reports = {name: verification(name) for name in AVAILABLE}
    digests = {name: r.report_digests() for name, r in reports.items() if r.report_files}
    assert set(digests) == set(AVAILABLE), "a backend wrote no report"
    assert len({tuple(sorted(d.items())) for d in digests.values()}) == 1, digests
    # …and equal to the expectation computed without the ORM.
    assert json.loads(reports[AVAILABLE[0]].report_files["json"]) == expected_report()


def test_a_worker_that_does_not_start_fails_verification(
    redis_server: RedisServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    broken = dataclasses.replace(get_backend("huey"), worker_argv_template=("python", "-c", "raise SystemExit(3)"))
    started = time.monotonic()
    report = verify_backend(broken, redis=redis_server, smtp=smtp_sink, workdir=tmp_path, timeout=30)
    assert not report.passed
    assert [c.name for c in report.failures()] == ["workers ready"]
    assert "exited with status 3" in report.failures()[0].detail
    assert time.monotonic() - started < 20  # a dead worker is noticed, not waited for


def test_mail_that_never_arrives_fails_verification(redis_server: RedisServer, tmp_path: Path) -> None:
    # A sink that is not running: the invoice task cannot deliver, and verification must say so.
    silent = SmtpSink(tmp_path / "maildir")
    report = verify_backend(get_backend("huey"), redis=redis_server, smtp=silent, workdir=tmp_path, timeout=30)
    failed = {c.name for c in report.failures()}
    assert {"task invoice ran", "invoice email received"} <= failed, report.format()
    assert "report content as expected" not in failed  # the other tasks were still checked
