"""The environment record stored with every run, and the check that two runs are comparable.

Like pyperf's metadata: the machine, the software and the machine's load are recorded so a reader can judge a number,
and :func:`compare_environments` refuses to let runs from different setups be compared silently.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import hashlib
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Distributions that matter to every backend's numbers besides the backends' own (``distributions`` of each
#: backend.toml, added by :func:`key_packages`): the web framework, and the harness's histogram library.
COMMON_KEY_PACKAGES: tuple[str, ...] = ("django",)
HARNESS_KEY_PACKAGES: tuple[str, ...] = ("hdrhistogram",)
#: Tools shown by ``python -m bench.environment versions`` after the key packages (they run the suite, not the tasks).
TOOL_PACKAGES: tuple[str, ...] = ("aiosmtpd", "psutil", "pytest")
#: Where ``nox -s lock`` writes the pins of each Python minor version (``py3.12.txt``), relative to the repository.
LOCK_DIR = "locks"
#: Installed by the virtualenv itself, not from the lock: never a difference from it.
_SEEDED = frozenset({"pip", "setuptools", "wheel"})


@functools.cache
def key_packages() -> tuple[str, ...]:
    """Distributions whose versions matter to the results: shown in reports and captions, compared between runs.

    Derived from every ``projects/*/backend.toml`` and the Redis floor's (their ``distributions``), so a new
    backend's libraries are recorded and compared without being listed here.
    """
    from bench.backends import load_backends, load_baseline  # the harness's backend list; not needed to import this

    names = list(COMMON_KEY_PACKAGES)
    for backend in [*load_backends().values(), load_baseline()]:
        names += [_normalize(d) for d in backend.distributions]
    names += HARNESS_KEY_PACKAGES
    return tuple(dict.fromkeys(names))


def _normalize(name: str) -> str:
    """PEP 503 normalized distribution name, so 'Django' and 'django_q2' match their keys."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_packages() -> dict[str, str]:
    """Every distribution installed in this interpreter's environment, normalized name → version, sorted."""
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[_normalize(name)] = dist.version
    return dict(sorted(found.items()))


def lock_path(repo_root: str | os.PathLike[str], python: Sequence[int] = sys.version_info[:2]) -> Path:
    """The lock file of Python ``python`` (major, minor): ``<repo>/locks/py3.12.txt``."""
    return Path(repo_root) / LOCK_DIR / f"py{python[0]}.{python[1]}.txt"


def read_lock(text: str) -> dict[str, str]:
    """The pins of a lock (``name==version`` lines, hashes and comments skipped), normalized name → version."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            pins[_normalize(match[1])] = match[2]
    return pins


def lock_record(repo_root: str | os.PathLike[str], packages: Mapping[str, str]) -> dict[str, Any] | None:
    """The lock this Python's environment should have been installed from, and how the installed one differs.

    ``{"file", "sha256", "differences"}``; ``differences`` lists every installed package whose version is not the
    locked one or that the lock lacks (the virtualenv's own pip/setuptools/wheel aside). Packages of the lock that
    are not installed are not differences: the lock also pins tools installed only by some sessions. None when
    there is no lock for this Python.
    """
    path = lock_path(repo_root)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    pins = read_lock(data.decode("utf-8", "replace"))
    differences = [
        f"{name} {version} installed, " + (f"{pins[name]} locked" if name in pins else "not in the lock")
        for name, version in packages.items()
        if pins.get(name) != version and not (name in _SEEDED and name not in pins)
    ]
    return {
        "file": path.relative_to(repo_root).as_posix(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "differences": differences,
    }


def constraints(environment: Mapping[str, Any], *, source: str = "the run") -> str:
    """A pip constraints file pinning every package an environment record lists (``pip install -c``)."""
    packages = environment.get("packages") or {}
    lock = environment.get("lock") or {}
    lines = [
        f"# Constraints reproducing the packages of {source}: Python {environment.get('python', '?')}"
        + (f", installed from {lock['file']} (sha256 {lock['sha256']})" if lock.get("sha256") else "")
        + ".",
        "# Install with that Python: pip install -r requirements.txt -c <this file>",
        *(f"{name}=={version}" for name, version in sorted(packages.items())),
    ]
    return "\n".join(lines) + "\n"


def git_state(repo_root: str | os.PathLike[str]) -> tuple[str | None, bool | None]:
    """(commit sha, dirty?) of the repository at ``repo_root``; (None, None) outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def memory_bytes() -> int | None:
    """Total physical memory in bytes (MemTotal of /proc/meminfo, or sysconf)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (None where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def capture_environment(repo_root: str | os.PathLike[str], *, redis_version: str | None = None) -> dict[str, Any]:
    """The environment at the start of a run (call :func:`finish_environment` at its end).

    ``redis_version`` comes from the caller, which knows which ``redis-server`` binary it started.
    """
    commit, dirty = git_state(repo_root)
    packages = installed_packages()
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_bytes": memory_bytes(),
        "load_average_start": load_average(),
        "load_average_end": None,
        "redis_version": redis_version,
        "packages": packages,
        "lock": lock_record(repo_root, packages),
    }


def finish_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``environment`` with the load average at the end of the run filled in."""
    return {**environment, "load_average_end": load_average()}


def key_versions(environment: Mapping[str, Any]) -> dict[str, str]:
    """Versions of :func:`key_packages` that are installed, in that order."""
    packages = environment.get("packages") or {}
    return {name: packages[name] for name in key_packages() if name in packages}


# Differences that change what is measured; anything else (hostname, date, unrelated packages) is only noise.
_COMPARED = (
    ("cpu_model", "CPU model"),
    ("cpu_count", "core count"),
    ("python", "Python version"),
    ("python_implementation", "Python implementation"),
    ("redis_version", "Redis version"),
    ("memory_bytes", "memory"),
)


def compare_environments(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """One warning line per difference between two runs' environments that can change their numbers."""
    warnings = [
        f"{label} differs: {a.get(key)!s} vs {b.get(key)!s}" for key, label in _COMPARED if a.get(key) != b.get(key)
    ]
    # Django's database engine changes what the DB-writing integrations cost (files before it was recorded: SQLite).
    (ea, va), (eb, vb) = (_database(env) for env in (a, b))
    if ea != eb or (va and vb and va != vb):
        warnings.append(f"database differs: {ea} {va} vs {eb} {vb}".replace("  ", " "))
    pa, pb = a.get("packages") or {}, b.get("packages") or {}
    keys = key_packages()
    for name in keys:
        if pa.get(name) != pb.get(name):
            warnings.append(f"{name} version differs: {pa.get(name, 'absent')} vs {pb.get(name, 'absent')}")
    others = sorted(n for n in set(pa) | set(pb) if n not in keys and pa.get(n) != pb.get(n))
    if others:
        shown = ", ".join(others[:8]) + (", …" if len(others) > 8 else "")
        warnings.append(f"{len(others)} other installed package(s) differ: {shown}")
    lock_a, lock_b = a.get("lock") or {}, b.get("lock") or {}
    if lock_a.get("sha256") and lock_b.get("sha256") and lock_a["sha256"] != lock_b["sha256"]:
        warnings.append(
            f"installed from different locks: {lock_a['file']} {lock_a['sha256'][:12]} vs "
            f"{lock_b['file']} {lock_b['sha256'][:12]}"
        )
    for label, env in (("first", a), ("second", b)):
        load, cores = env.get("load_average_start") or [], env.get("cpu_count") or 0
        if load and cores and load[0] > 0.5 * cores:
            warnings.append(f"the {label} run started on a busy machine (load {load[0]} on {cores} cores)")
    return warnings


def _database(environment: Mapping[str, Any]) -> tuple[str, str]:
    """(engine, version without the distribution's suffix); a file from before the record: SQLite, version unknown."""
    database = environment.get("database") or {"engine": "sqlite"}
    return str(database.get("engine")), str(database.get("version") or "").split(" ")[0]


def _print_versions() -> None:
    """What a nox session runs with: the interpreter, its lock, the key packages, the tools."""
    from bench import REPO_ROOT

    packages = installed_packages()
    print("python", platform.python_version(), sys.executable)
    lock = lock_record(REPO_ROOT, packages)
    if lock is None:
        print(f"lock: none for Python {platform.python_version()} ({lock_path(REPO_ROOT).name} is missing)")
    else:
        state = "installed as locked" if not lock["differences"] else "; ".join(lock["differences"])
        print(f"lock: {lock['file']} sha256 {lock['sha256']}: {state}")
    for name in (*key_packages(), *TOOL_PACKAGES):
        if name in packages:
            print(name, packages[name])


def main(argv: Sequence[str] | None = None) -> int:
    """``versions``: print what this interpreter runs with; ``constraints RESULTS``: a run's packages as pins."""
    parser = argparse.ArgumentParser(prog="python -m bench.environment", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("versions", help="the interpreter, its lock, the key packages' versions")
    pins = commands.add_parser("constraints", help="a results file's recorded packages as a pip constraints file")
    pins.add_argument("results", help="results/<run-id>/results.json")
    args = parser.parse_args(argv)
    if args.command == "versions":
        _print_versions()
        return 0
    from bench.results import ResultsError, load_results

    try:
        environment = load_results(args.results).environment
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not environment.get("packages"):
        print(f"error: {args.results} records no installed packages", file=sys.stderr)
        return 2
    sys.stdout.write(constraints(environment, source=args.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
