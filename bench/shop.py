"""``nox -s shop -- --backend huey``: the demo shop on one backend, with everything it needs, until Ctrl-C.

Starts a private Redis (or uses ``--redis-url``), an SMTP sink whose mail lands in a maildir, migrates and seeds the
demo data, creates the superuser admin/admin, starts the backend's real worker command, its monitor if it has one
(Celery: Flower) and Django's development server, and lists the library's own admin pages. Ctrl-C stops all of it.
``--mail`` prints the mail received so far instead.

What the shop adds per backend is data in the ``[shop]`` table of its ``backend.toml`` (docs/ARCHITECTURE.md):
worker arguments for the shop only (Celery's task events, which benchmark runs never send), monitors to start
beside it, and the admin pages to list with the profiles that leave them empty.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import REPO_ROOT
from bench.agent import run_agent
from bench.backends import PROFILES, Backend, get_backend, load_backends
from bench.errors import BackendError, BenchError, ServiceError
from bench.services import (
    LOOPBACK,
    ManagedProcess,
    SmtpSink,
    check_database_url,
    free_port,
    redis_service,
    wait_for_port,
)

DEFAULT_PORT = 8000
SUPERUSER = {"username": "admin", "password": "admin", "email": "admin@example.com"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="nox -s shop --", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        "-b",
        default=os.environ.get("SHOP_BACKEND") or "celery",
        help=f"task queue backend: {', '.join(load_backends())} (default: $SHOP_BACKEND or celery)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help=f"web server port (default {DEFAULT_PORT} if free, else any free port)"
    )
    parser.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--profile", choices=PROFILES, default=os.environ.get("SHOP_PROFILE") or "shipped")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting a private one")
    parser.add_argument("--database-url", default=os.environ.get("SHOP_DATABASE_URL"), help="e.g. postgres://…")
    parser.add_argument("--var-dir", type=Path, default=None, help="state directory (default var/<backend>)")
    parser.add_argument("--mail", action="store_true", help="print the mail the shop sent so far, then exit")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Dashboard:
    """One admin page of the library's Django integration."""

    name: str
    path: str
    #: Profiles whose settings leave the page empty (e.g. ``tuned`` stores no results).
    empty_in: tuple[str, ...] = ()
    #: Profiles without the app that serves the page (e.g. ``bare`` leaves django-celery-results out): no such page.
    absent_in: tuple[str, ...] = ()

    def describe(self, profile: str) -> str:
        """``name (empty in profile tuned)`` for the printed list, or a warning if ``profile`` is one of those."""
        if profile in self.absent_in:
            return f"{self.name} (NOT INSTALLED in this profile, {profile}: this URL answers 404)"
        if profile in self.empty_in:
            kept = ", ".join(p for p in PROFILES if p not in self.empty_in + self.absent_in)
            return f"{self.name} (EMPTY in this profile, {profile}; kept filled in {kept})"
        notes = [f"empty in profile {', '.join(self.empty_in)}"] if self.empty_in else []
        notes += [f"not installed in profile {', '.join(self.absent_in)}"] if self.absent_in else []
        return self.name + (f" ({'; '.join(notes)})" if notes else "")


@dataclass(frozen=True)
class Monitor:
    """A monitoring web app started beside the shop (Celery: Flower); ``{port}`` in argv is a free loopback port."""

    name: str
    argv: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class ShopExtras:
    """The ``[shop]`` table of a ``backend.toml``: what the demo shop adds on this backend and never in a benchmark."""

    worker_args: tuple[str, ...] = ()
    dashboards: tuple[Dashboard, ...] = ()
    monitors: tuple[Monitor, ...] = ()


def _strings(value: Any, what: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BackendError(f"{path}: {what} must be a list of strings")
    return tuple(value)


def load_shop_extras(backend: Backend) -> ShopExtras:
    """Read and check the ``[shop]`` table of the backend's ``backend.toml`` (absent: nothing extra)."""
    path = backend.project_dir / "backend.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("shop", {})
        dashboards = tuple(
            Dashboard(
                str(d["name"]),
                str(d["path"]),
                _strings(d.get("empty_in", []), "shop.dashboards.empty_in", path),
                _strings(d.get("absent_in", []), "shop.dashboards.absent_in", path),
            )
            for d in table.get("dashboards", [])
        )
        monitors = tuple(
            Monitor(str(m["name"]), _strings(m["argv"], "shop.monitors.argv", path), str(m.get("note", "")))
            for m in table.get("monitors", [])
        )
    except (OSError, tomllib.TOMLDecodeError, TypeError, AttributeError) as exc:
        raise BackendError(f"{path}: malformed [shop] table: {exc}") from None
    except KeyError as exc:
        raise BackendError(f"{path}: [shop] entry without {exc.args[0]!r}") from None
    for dashboard in dashboards:
        unknown = set(dashboard.empty_in + dashboard.absent_in) - set(PROFILES)
        if unknown or not dashboard.path.startswith("/"):
            raise BackendError(
                f"{path}: [shop] dashboard {dashboard.name!r}: path must start with '/', profiles {PROFILES}"
            )
    for monitor in monitors:
        if not monitor.argv or not any("{port}" in a for a in monitor.argv):
            raise BackendError(f"{path}: [shop] monitor {monitor.name!r}: argv must use {{port}}")
    return ShopExtras(_strings(table.get("worker_args", []), "shop.worker_args", path), dashboards, monitors)


def maildir_of(var_dir: Path) -> Path:
    """Where the sink stores mail for a shop state directory."""
    return var_dir / "maildir"


def print_mail(var_dir: Path) -> None:
    """Print every mail of the shop's maildir (headers and text part), oldest first."""
    sink = SmtpSink(maildir_of(var_dir))
    messages = sink.messages()
    print(f"{len(messages)} mail(s) in {sink.maildir}")
    for message in messages:
        print("-" * 78)
        for header in ("Date", "From", "To", "Subject"):
            print(f"{header}: {message[header]}")
        body = message.get_body(preferencelist=("plain",))
        print()
        print(body.get_content().rstrip() if body is not None else "(no text part)")


def _web_port(requested: int | None) -> int:
    if requested:  # 0 or None: choose
        return requested
    try:
        import socket

        with socket.socket() as sock:
            sock.bind((LOOPBACK, DEFAULT_PORT))
        return DEFAULT_PORT
    except OSError:
        return free_port()


def run(backend: Backend, args: argparse.Namespace) -> int:
    """Bring the shop up, print where everything is, and wait for Ctrl-C (or a process dying)."""
    backend.check_installed()
    if args.database_url:
        check_database_url(args.database_url)  # unreachable: one line now, not a traceback from `migrate`
    extras = load_shop_extras(backend)
    var_dir = (args.var_dir or REPO_ROOT / "var" / backend.name).resolve()
    logs = var_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        redis = stack.enter_context(redis_service(args.redis_url))
        smtp = stack.enter_context(SmtpSink(maildir_of(var_dir), log_path=logs / "smtp-sink.log"))
        env = backend.environment(
            redis_url=redis.url,
            var_dir=var_dir,
            smtp_port=smtp.port,
            profile=args.profile,
            log_level="INFO",
            database_url=args.database_url,
        )
        print(f"Preparing the {backend.label} shop in {var_dir} (migrations, demo data, superuser)…", flush=True)
        prepared = run_agent(backend, env, "prepare", {"demo": True, "superuser": SUPERUSER}, timeout=300)
        worker = ManagedProcess(
            [*backend.worker_argv(args.processes, args.profile, "INFO"), *extras.worker_args],
            env=env | backend.worker_env(args.processes, "INFO"),
            cwd=backend.project_dir,
            log_path=logs / "worker.log",
            name=f"{backend.name} worker",
        )
        stack.callback(worker.stop)
        worker.start()
        processes = [worker]
        monitors: list[tuple[Monitor, int, ManagedProcess]] = []
        for monitor in extras.monitors:
            port = free_port()
            argv = [a.replace("{port}", str(port)) for a in monitor.argv]
            started = ManagedProcess(
                [backend._resolve_executable(argv[0]), *argv[1:]],
                env=env,
                cwd=backend.project_dir,
                log_path=logs / f"{monitor.name.lower()}.log",
                name=monitor.name,
            )
            stack.callback(started.stop)
            started.start()
            processes.append(started)
            monitors.append((monitor, port, started))
        port = _web_port(args.port)
        web = ManagedProcess(
            backend.manage_argv("runserver", f"{LOOPBACK}:{port}", "--noreload"),
            # DEBUG only for the web process (static files, error pages); workers keep DEBUG off.
            env=env | {"SHOP_DEBUG": "1"},
            cwd=backend.project_dir,
            log_path=logs / "web.log",
            name="web server",
        )
        stack.callback(web.stop)
        web.start()
        processes.append(web)
        wait_for_port(LOOPBACK, port, 60, process=web)
        for _monitor, monitor_port, started in monitors:
            wait_for_port(LOOPBACK, monitor_port, 60, process=started)
        demo = prepared.get("demo", {})
        var_opt = f" --var-dir {args.var_dir}" if args.var_dir else ""
        url = f"http://{LOOPBACK}:{port}"
        print(
            f"""
The demo shop runs on {backend.label} (profile {args.profile}, {args.processes} worker processes).

  Shop          {url}/            ({demo.get("products", "?")} products, {demo.get("orders", "?")} orders)
  Task runs     {url}/tasks/
  Admin         {url}/admin/      user admin, password admin
{_dashboards_text(extras, url, args.profile)}{_monitors_text(monitors)}\
  Mail          {smtp.maildir}   (SMTP sink on {LOOPBACK}:{smtp.port})
                read it with: nox -s shop -- --backend {backend.name}{var_opt} --mail
  Redis         {redis.url}
  Logs          {logs}/worker.log, web.log{"".join(f", {m.name.lower()}.log" for m, _, _ in monitors)}

Press Ctrl-C to stop everything.""",
            flush=True,
        )
        try:
            while True:
                for process in processes:
                    if not process.alive():
                        raise ServiceError(
                            f"the {process.name} exited with status {process.returncode}; "
                            f"see {process.log_path}:\n{process.log_tail(15)}"
                        )
                if not redis.alive() or not smtp.alive():
                    raise ServiceError("Redis or the SMTP sink stopped unexpectedly")
                time.sleep(1)
        except KeyboardInterrupt:
            stopped = ", ".join(["the web server", *(m.name for m, _, _ in monitors), "the worker"])
            print(f"\nStopping {stopped}, the SMTP sink and Redis…", flush=True)
    print("Stopped.")
    return 0


def _dashboards_text(extras: ShopExtras, url: str, profile: str) -> str:
    """The library's own admin pages, one line each (with a warning when this profile leaves one empty)."""
    if not extras.dashboards:
        return "  Dashboards    none of the library's own (the shop's Task runs page lists every task)\n"
    lines = []
    for i, dashboard in enumerate(extras.dashboards):
        label = "Dashboards" if i == 0 else ""
        lines.append(f"  {label:<13} {url}{dashboard.path}   {dashboard.describe(profile)}\n")
    return "".join(lines)


def _monitors_text(monitors: list[tuple[Monitor, int, ManagedProcess]]) -> str:
    """One line per started monitor: its URL and what it shows."""
    return "".join(f"  {m.name:<13} http://{LOOPBACK}:{port}/   {m.note}\n" for m, port, _ in monitors)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.shop``."""
    args = parse_args(argv)
    try:
        backend = get_backend(args.backend)
        if args.mail:
            print_mail((args.var_dir or REPO_ROOT / "var" / backend.name).resolve())
            return 0
        return run(backend, args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Stopped.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
