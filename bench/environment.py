"""The environment record stored with every run, and the check that two runs are comparable.

Like pyperf's metadata: the machine, the software and the machine's load are recorded so a reader can judge a number,
and :func:`compare_environments` refuses to let runs from different setups be compared silently.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Distributions whose versions matter to the results: shown in reports and chart captions, compared between runs.
KEY_PACKAGES: tuple[str, ...] = (
    "django",
    "celery",
    "kombu",
    "django-celery-results",
    "django-q2",
    "dramatiq",
    "django-dramatiq",
    "huey",
    "redis",
    "hdrhistogram",
)


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
        "packages": installed_packages(),
    }


def finish_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``environment`` with the load average at the end of the run filled in."""
    return {**environment, "load_average_end": load_average()}


def key_versions(environment: Mapping[str, Any]) -> dict[str, str]:
    """Versions of :data:`KEY_PACKAGES` that are installed, in that order."""
    packages = environment.get("packages") or {}
    return {name: packages[name] for name in KEY_PACKAGES if name in packages}


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
    for name in KEY_PACKAGES:
        if pa.get(name) != pb.get(name):
            warnings.append(f"{name} version differs: {pa.get(name, 'absent')} vs {pb.get(name, 'absent')}")
    others = sorted(n for n in set(pa) | set(pb) if n not in KEY_PACKAGES and pa.get(n) != pb.get(n))
    if others:
        shown = ", ".join(others[:8]) + (", …" if len(others) > 8 else "")
        warnings.append(f"{len(others)} other installed package(s) differ: {shown}")
    for label, env in (("first", a), ("second", b)):
        load, cores = env.get("load_average_start") or [], env.get("cpu_count") or 0
        if load and cores and load[0] > 0.5 * cores:
            warnings.append(f"the {label} run started on a busy machine (load {load[0]} on {cores} cores)")
    return warnings


def _database(environment: Mapping[str, Any]) -> tuple[str, str]:
    """(engine, version without the distribution's suffix); a file from before the record: SQLite, version unknown."""
    database = environment.get("database") or {"engine": "sqlite"}
    return str(database.get("engine")), str(database.get("version") or "").split(" ")[0]
