"""``nox -s shop``: the demo shop brought up for real, its monitoring, and nothing left running after Ctrl-C.

On Celery the shop starts Flower beside the worker (task events for the shop only); the test requests a sales report
through the shop's own form and finds that Celery task in Flower's HTTP API and in django-celery-results' admin page.
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
from pathlib import Path
from typing import Any

import psutil
import pytest

from bench.backends import PROFILES, get_backend, load_backends
from bench.errors import BackendError
from bench.services import free_port
from bench.shop import load_shop_extras
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


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("profile", ["shipped", "tuned"])
def test_celery_shop_shows_its_tasks_in_flower_and_stops_everything(profile: str, tmp_path: Path) -> None:
    """Flower shows the task in every profile; django-celery-results' admin page only where results are stored."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    port = free_port()
    argv = ["--backend", "celery", "--var-dir", str(tmp_path / "var"), "--port", str(port), "--processes", "1"]
    argv += ["--profile", profile]
    shop = subprocess.Popen(
        [sys.executable, "-m", "bench.shop", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=default_signal_dispositions,  # the test sends it the Ctrl-C a user would
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert shop.stdout is not None
        for line in shop.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        banner = read_until(lines, "Press Ctrl-C", timeout=240)
        flower = re.search(r"^  Flower +(http://127\.0\.0\.1:\d+/) ", banner, re.MULTILINE)
        dashboard = re.search(r"^  Dashboards +(http://\S+) +django-celery-results", banner, re.MULTILINE)
        assert flower and dashboard, banner
        pids = [p.pid for p in psutil.Process(shop.pid).children(recursive=True)]
        names = " ".join(" ".join(psutil.Process(p).cmdline()) for p in pids)
        assert "flower" in names and "worker" in names and "--task-events" in names and "runserver" in names

        # A sales report requested through the shop's own form runs as a Celery task...
        browser = Browser()
        page = browser.submit(f"http://127.0.0.1:{port}/reports/", {"start": "2026-01-01", "end": "2026-01-31"})
        assert "Queued build_sales_report" in page
        # ...which Flower shows, from the worker's task events, until it succeeded.
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
        login = {"username": "admin", "password": "admin", "next": "/admin/"}
        browser.submit(f"http://127.0.0.1:{port}/admin/login/", login)
        page = browser.get(dashboard.group(1))
        assert "Select task result to change" in page  # the admin's list page, logged in
        listed = done[0] in page
        assert listed == (profile not in load_shop_extras(get_backend("celery")).dashboards[0].empty_in)
    finally:
        if shop.poll() is None:
            shop.send_signal(signal.SIGINT)
        try:
            shop.wait(timeout=60)
        finally:
            shop.kill()
    tail = read_until(lines, "Stopped.", timeout=10)
    assert "Stopping the web server, Flower, the worker, the SMTP sink and Redis" in tail
    assert shop.returncode == 0
    assert not gone(pids), "left running after Ctrl-C"


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


def test_malformed_shop_table_names_the_file(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    source = (get_backend("huey").project_dir / "backend.toml").read_text()
    (project / "backend.toml").write_text(source.replace("dashboards = []", 'dashboards = [{ path = "/admin/" }]'))
    backend = get_backend("huey", tmp_path)
    with pytest.raises(BackendError, match=r"backend.toml: \[shop\] entry without 'name'"):
        load_shop_extras(backend)
