"""``nox -s shop``: the demo shop brought up for real, its monitoring, and nothing left running after Ctrl-C.

On Celery the shop starts Flower beside the worker (task events for the shop only); the test requests a sales report
through the shop's own form and finds that Celery task in Flower's HTTP API and in django-celery-results' admin page.
Each shop is self-contained (its own Redis, SMTP sink and ports): the cases of a test run side by side
(tests/side_by_side.py), as they mostly wait on the shop's start-up.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.backends import PROFILES, get_backend, load_backends
from bench.errors import BackendError
from bench.services import free_port
from bench.shop import load_shop_extras
from tests.side_by_side import SideBySide
from tests.signals import default_signal_dispositions

REPO = Path(__file__).resolve().parent.parent
TASK = "shop_celery.tasks.build_sales_report"


class Browser:
    """A cookie-keeping HTTP client that submits Django forms with their CSRF token."""

    def __init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, url: str) -> str:
        with self.opener.open(url, timeout=30) as response:
            return response.read().decode()

    def submit(self, url: str, fields: dict[str, str]) -> str:
        """GET the form page, then POST ``fields`` with its CSRF token; the page after redirects."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(url))
        assert token, f"no CSRF token in {url}"
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
        request = urllib.request.Request(url, data=data, headers={"Referer": url})
        with self.opener.open(request, timeout=30) as response:
            return response.read().decode()


def flower_tasks(base: str) -> dict[str, Any]:
    """Flower's ``/api/tasks`` with the shop's admin login (Flower 2 opens its API only with authentication)."""
    auth = base64.b64encode(b"admin:admin").decode()
    request = urllib.request.Request(base + "api/tasks", headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def read_until(lines: queue.Queue[str | None], marker: str, timeout: float) -> str:
    """Everything the shop printed up to the line holding ``marker``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed within {timeout:.0f} s; output:\n{''.join(seen)}")


def gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    """The pids still running (not zombies) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


class RunningShop:
    """``python -m bench.shop`` as a user starts it, stopped with the Ctrl-C a user would send."""

    def __init__(self, backend: str, profile: str, tmp_path: Path) -> None:
        self.port = free_port()
        argv = ["--backend", backend, "--profile", profile, "--var-dir", str(tmp_path / "var")]
        self.argv = [*argv, "--port", str(self.port), "--processes", "1"]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.browser = Browser()
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.banner = ""
        self.pids: list[int] = []

    def __enter__(self) -> RunningShop:
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.shop", *self.argv],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=default_signal_dispositions,  # the test sends it the Ctrl-C a user would
        )
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            self.banner = read_until(self.lines, "Press Ctrl-C", timeout=240)
            self.pids = [p.pid for p in psutil.Process(self.proc.pid).children(recursive=True)]
        except BaseException:
            self.__exit__()
            raise
        return self

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        finally:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> str:
        """Ctrl-C; what the shop printed while stopping."""
        self.__exit__()
        return read_until(self.lines, "Stopped.", timeout=10)

    def request_report(self) -> None:
        """A sales report through the shop's own form: one build_sales_report task."""
        page = self.browser.submit(self.url + "reports/", {"start": "2026-01-01", "end": "2026-01-31"})
        assert "Queued build_sales_report" in page

    def wait_report_done(self, timeout: float = 60) -> None:
        """Until the shop's Task runs page shows the report's run succeeded."""
        deadline = time.monotonic() + timeout
        while "state-succeeded" not in self.browser.get(self.url + "tasks/"):
            assert time.monotonic() < deadline, "the report task did not succeed"
            time.sleep(0.5)

    def login(self) -> None:
        self.browser.submit(self.url + "admin/login/", {"username": "admin", "password": "admin", "next": "/admin/"})


def admin_count(page: str) -> int:
    """The row count an admin list page states under its table (``3 successful tasks``).

    Django 5.2 writes it in ``<p class="paginator">``, Django 6 in ``<nav class="paginator">`` after a hidden heading.
    """
    paginator = re.search(r'<(p|nav) class="paginator"[^>]*>(.*?)</\1>', page, re.DOTALL)
    assert paginator, "not an admin list page (not logged in?)"
    text = re.sub(r"<h2\b.*?</h2>", " ", paginator.group(2), flags=re.DOTALL)
    return int(re.findall(r"\b(\d+)\b", re.sub(r"<[^>]+>", " ", text))[-1])


def _cmdline(pid: int) -> str:
    """The command line of ``pid``; '' for a process that ended since it was listed (a short-lived helper of the
    tree: the programs the test looks for run for the whole shop)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""


def _flower_and_results_page(profile: str, tmp_path: Path) -> None:
    """One case of :func:`test_celery_shop_shows_its_tasks_in_flower_and_stops_everything` (its assertions)."""
    with RunningShop("celery", profile, tmp_path) as shop:
        flower = re.search(r"^  Flower +(http://127\.0\.0\.1:\d+/) ", shop.banner, re.MULTILINE)
        dashboard = re.search(r"^  Dashboards +(http://\S+) +django-celery-results", shop.banner, re.MULTILINE)
        assert flower and dashboard, shop.banner
        names = " ".join(_cmdline(p) for p in shop.pids)
        assert "flower" in names and "worker" in names and "--task-events" in names and "runserver" in names

        # A sales report requested through the shop's own form runs as a Celery task, which Flower shows from the
        # worker's task events, until it succeeded.
        shop.request_report()
        deadline = time.monotonic() + 60
        tasks: dict[str, Any] = {}
        while time.monotonic() < deadline:
            tasks = {uuid: t for uuid, t in flower_tasks(flower.group(1)).items() if t.get("name") == TASK}
            if any(t.get("state") == "SUCCESS" for t in tasks.values()):
                break
            time.sleep(0.5)
        done = [uuid for uuid, t in tasks.items() if t.get("state") == "SUCCESS"]
        assert len(done) == 1, tasks
        # The listed dashboard (django-celery-results) shows the same task, except in the profile said to empty it.
        shop.login()
        page = shop.browser.get(dashboard.group(1))
        listed = done[0] in page
        assert listed == (profile not in load_shop_extras(get_backend("celery")).dashboards[0].empty_in)
        assert admin_count(page) == (1 if listed else 0)
        tail = shop.stop()
    assert "Stopping the web server, Flower, the worker, the SMTP sink and Redis" in tail
    assert shop.proc.returncode == 0
    assert not gone(shop.pids), "left running after Ctrl-C"


@pytest.fixture(scope="module")
def flower_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide[None]]:
    """Every case of :func:`test_celery_shop_shows_its_tasks_in_flower_and_stops_everything`, side by side."""
    with SideBySide(lambda profile: _flower_and_results_page(profile, tmp_path_factory.mktemp(profile))) as cases:
        yield cases


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("profile", ["shipped", "tuned"])
def test_celery_shop_shows_its_tasks_in_flower_and_stops_everything(
    profile: str, flower_cases: SideBySide[None], request: pytest.FixtureRequest
) -> None:
    """Flower shows the task in every profile; django-celery-results' admin page only where results are stored. The
    assertions run in :func:`_flower_and_results_page`, side by side with the other case."""
    flower_cases.outcome(request)


def _dashboards_filled_or_empty(name: str, profile: str, tmp_path: Path) -> None:
    """One case of :func:`test_dashboards_are_filled_except_in_the_profiles_that_empty_them` (its assertions)."""
    extras = load_shop_extras(get_backend(name))
    depends = [d for d in extras.dashboards if d.empty_in]
    assert depends, f"{name} lists no profile-dependent dashboard"
    with RunningShop(name, profile, tmp_path) as shop:
        for dashboard in extras.dashboards:
            assert f"{shop.url.rstrip('/')}{dashboard.path}" in shop.banner
        shop.request_report()
        shop.wait_report_done()
        shop.login()
        for dashboard in depends:
            # The library may record the task a moment after the shop's own run record (django-q2's monitor).
            deadline = time.monotonic() + (5 if profile in dashboard.empty_in else 30)
            while (count := admin_count(shop.browser.get(shop.url.rstrip("/") + dashboard.path))) == 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert count == (0 if profile in dashboard.empty_in else 1), (dashboard.name, profile, count)
        shop.stop()
    assert shop.proc.returncode == 0
    assert not gone(shop.pids), "left running after Ctrl-C"


@pytest.fixture(scope="module")
def dashboard_cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SideBySide[None]]:
    """Every case of :func:`test_dashboards_are_filled_except_in_the_profiles_that_empty_them`, side by side."""

    def run(name: str, profile: str) -> None:
        _dashboards_filled_or_empty(name, profile, tmp_path_factory.mktemp(f"{name}-{profile}"))

    with SideBySide(run) as cases:
        yield cases


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("profile", ["bare", "shipped", "tuned"])
@pytest.mark.parametrize("name", ["djangoq", "dramatiq"])
def test_dashboards_are_filled_except_in_the_profiles_that_empty_them(
    name: str, profile: str, dashboard_cases: SideBySide[None], request: pytest.FixtureRequest
) -> None:
    """What docs/RUNNING.md's dashboard table says, measured: a task shows in each profile-dependent page, or not.
    The assertions run in :func:`_dashboards_filled_or_empty`, side by side with the other cases."""
    dashboard_cases.outcome(request)


@pytest.mark.unit
def test_every_backend_lists_its_dashboards() -> None:
    """Each backend's [shop] table is valid; Celery names Flower; Huey honestly lists none."""
    extras = {name: load_shop_extras(backend) for name, backend in load_backends().items()}
    assert [m.name for m in extras["celery"].monitors] == ["Flower"]
    assert extras["celery"].worker_args == ("--task-events",)
    assert extras["huey"].dashboards == ()
    # Task events only in the shop: a benchmark's worker command line never has them.
    assert not any("--task-events" in get_backend("celery").worker_argv(2, profile) for profile in PROFILES)
    for name in ("celery", "djangoq", "dramatiq"):
        assert extras[name].dashboards, name
        assert all(d.path.startswith("/admin/") and set(d.empty_in) <= set(PROFILES) for d in extras[name].dashboards)
    # Celery's bare profile does not install django-celery-results: its page is said to be absent, not empty.
    results_page = extras["celery"].dashboards[0]
    assert results_page.absent_in == ("bare",)
    assert "NOT INSTALLED in this profile, bare" in results_page.describe("bare")
    assert "not installed in profile bare" in results_page.describe("shipped")


@pytest.mark.unit
def test_malformed_shop_table_names_the_file(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    source = (get_backend("huey").project_dir / "backend.toml").read_text()
    (project / "backend.toml").write_text(source.replace("dashboards = []", 'dashboards = [{ path = "/admin/" }]'))
    backend = get_backend("huey", tmp_path)
    with pytest.raises(BackendError, match=r"backend.toml: \[shop\] entry without 'name'"):
        load_shop_extras(backend)
