"""Locks, the environment record and the package lists derived from each backend.toml (bench.environment)."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from bench.backends import load_backends, load_baseline
from bench.environment import (
    capture_environment,
    compare_environments,
    key_packages,
    key_versions,
    lock_path,
    lock_record,
    read_lock,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
LOCKED_PYTHONS = ("3.11", "3.12", "3.13")
REQUIREMENT_FILES = ("requirements.txt", "requirements-tools.txt")
RESULTS_FILES = sorted((REPO / "results").glob("*/results.json"))
assert RESULTS_FILES, "no committed results file"


def _requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def _entries(lock_text: str) -> dict[str, str]:
    """Each lock entry's whole text (pin line, hashes, via comment), by name."""
    entries: dict[str, str] = {}
    name = ""
    for line in lock_text.splitlines():
        if line[:1].isspace():
            entries[name] += line + "\n"
        elif line and not line.startswith("#"):
            name = line.split("==", 1)[0]
            entries[name] = line + "\n"
    return entries


def test_key_packages_are_every_backends_distributions() -> None:
    keys = key_packages()
    assert keys[0] == "django" and len(keys) == len(set(keys))
    for backend in [*load_backends().values(), load_baseline()]:
        assert backend.distributions, backend.name
        for dist in backend.distributions:
            assert dist.lower().replace("_", "-") in keys, f"{backend.name}: {dist}"
    env = {"packages": {"django": "6.1.3", "huey": "3.5.4", "numpy": "2.0"}}
    assert key_versions(env) == {"django": "6.1.3", "huey": "3.5.4"}  # numpy is no backend's library


def test_isort_first_party_covers_every_backend_package() -> None:
    """ruff reads globs in known-first-party (shop_*); every backend project's package must match one."""
    isort = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["isort"]
    patterns = isort["known-first-party"]
    packages = {b.django_package for b in load_backends().values()} | {"bench", "shop", "tests"}
    for package in packages:
        assert any(fnmatch.fnmatchcase(package, p) for p in patterns), f"{package} not first-party in pyproject.toml"


@pytest.mark.parametrize("python", LOCKED_PYTHONS)
def test_lock_pins_every_requirement_with_hashes(python: str) -> None:
    """Each lock satisfies requirements*.txt for its Python (markers evaluated for it) and hashes every entry."""
    text = lock_path(REPO, tuple(int(p) for p in python.split("."))).read_text()
    pins, entries = read_lock(text), _entries(text)
    assert set(pins) == {name.lower() for name in entries}
    assert all("--hash=sha256:" in entry for entry in entries.values()), "an entry without a hash"
    marker_env = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    for file in REQUIREMENT_FILES:
        for req in _requirements(REPO / file):
            if req.marker is not None and not req.marker.evaluate(marker_env):
                continue  # another Python's line (django has one per Django series)
            name = req.name.lower()
            assert name in pins, f"{file}: {req} is not in the {python} lock: run `nox -s lock`"
            assert req.specifier.contains(pins[name], prereleases=True), f"{req}: {python} lock has {pins[name]}"
    django = Version(pins["django"])
    # The suite's policy (requirements.txt): Django 5.2 LTS on 3.11 with the django.tasks backport, 6.x on 3.12+.
    if python == "3.11":
        assert (django.major, django.minor) == (5, 2) and "django-tasks" in pins
    else:
        assert django.major == 6


def test_environment_records_the_lock_of_this_python() -> None:
    env = capture_environment(REPO)
    lock = env["lock"]
    path = REPO / "locks" / f"py{sys.version_info[0]}.{sys.version_info[1]}.txt"
    assert lock["file"] == path.relative_to(REPO).as_posix()
    assert lock["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    if os.environ.get("NOX_CURRENT_SESSION"):  # installed by nox from that lock: nothing may differ
        assert lock["differences"] == []


def test_lock_record_lists_what_differs_from_the_lock(tmp_path: Path) -> None:
    lock = lock_path(tmp_path)
    lock.parent.mkdir()
    lock.write_text("# header\ndjango==5.2.19 \\\n    --hash=sha256:00\n    # via -r requirements.txt\nruff==0.17.6\n")
    record = lock_record(tmp_path, {"django": "5.2.18", "extra-thing": "1.0", "pip": "26.0"})
    assert record is not None
    assert record["differences"] == [
        "django 5.2.18 installed, 5.2.19 locked",
        "extra-thing 1.0 installed, not in the lock",
    ]
    assert record["sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
    assert lock_record(tmp_path / "elsewhere", {}) is None


def test_compare_warns_when_runs_come_from_different_locks() -> None:
    a = {"lock": {"file": "locks/py3.11.txt", "sha256": "a" * 64}}
    b = {"lock": {"file": "locks/py3.12.txt", "sha256": "b" * 64}}
    assert any("different locks" in w for w in compare_environments(a, b))
    assert not any("different locks" in w for w in compare_environments(a, a))


@pytest.mark.parametrize("results", RESULTS_FILES, ids=lambda p: p.parent.name)
def test_constraints_from_a_committed_results_file(results: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench.environment", "constraints", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    recorded = json.loads(results.read_text())["environment"]["packages"]
    pins = [Requirement(line) for line in out.splitlines() if line and not line.startswith("#")]
    assert {p.name: str(p.specifier) for p in pins} == {name: f"=={v}" for name, v in recorded.items()}
    assert all(p.marker is None and not p.extras for p in pins)


@pytest.mark.parametrize("content", [None, "[]", '{"schema_version": 1, "run": {}, "environment": {}, "backends": {}}'])
def test_constraints_of_bad_input_is_one_line(content: str | None, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.environment", "constraints", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error:"), proc.stderr
