"""The harness's hands inside a backend's Django environment.

``python -m bench.agent <command> [json-args]`` runs in a subprocess with :meth:`bench.backends.Backend.environment`
(Django settings cannot be swapped inside one process, so every backend gets its own). It sets Django up, runs one
command and prints exactly one JSON document on stdout; anything else (Django's own output, logs) goes to stderr.

Commands are registered with :func:`command`; modules listed in :data:`EXTENSIONS` are imported before dispatch so
that they can register more (``bench.verify`` does; ``bench.producer`` may). Command functions take keyword arguments
(the JSON object) and return something JSON-serialisable. On the harness side, :func:`run_agent` calls a command and
returns its result, or raises :class:`bench.errors.AgentError`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bench import REPO_ROOT
from bench.errors import AgentError

if TYPE_CHECKING:
    from bench.backends import Backend

log = logging.getLogger("bench.agent")

Command = Callable[..., Any]

#: Command name → function. Extend with the :func:`command` decorator.
COMMANDS: dict[str, Command] = {}

#: Modules imported by the agent before dispatching, so that their ``@command`` functions are registered.
#: A missing module is skipped (the harness grows over time); an import error inside one is not.
EXTENSIONS: list[str] = ["bench.verify", "bench.producer"]


def command(name: str | None = None) -> Callable[[Command], Command]:
    """Register a function as an agent command (``name`` defaults to the function's name)."""

    def register(func: Command) -> Command:
        COMMANDS[name or func.__name__] = func
        return func

    return register


# --------------------------------------------------------------------------------------------------------------------
# Built-in commands (run inside the backend's Django environment; Django imported lazily)
# --------------------------------------------------------------------------------------------------------------------


@command()
def ping() -> dict[str, Any]:
    """Which settings, backend and interpreter the agent runs with."""
    import django
    from django.conf import settings

    return {
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "django": django.get_version(),
        "settings_module": os.environ.get("DJANGO_SETTINGS_MODULE"),
        "shop_queue": getattr(settings, "SHOP_QUEUE", None),
    }


@command()
def prepare(
    demo: bool = True,
    superuser: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Create/upgrade the database (``migrate --noinput``), seed the demo data, optionally create a superuser.

    ``superuser`` is ``{"username": ..., "password": ..., "email": ...}``; an existing user gets that password.
    """
    from django.core.management import call_command

    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    result: dict[str, Any] = {"migrated": True}
    if demo:
        call_command("seed_demo", verbosity=0)
        from shop.models import Customer, Order, Product

        result["demo"] = {
            "products": Product.objects.count(),
            "customers": Customer.objects.count(),
            "orders": Order.objects.count(),
        }
    if superuser:
        from django.contrib.auth import get_user_model

        user_model = get_user_model()
        user, _ = user_model.objects.get_or_create(
            username=superuser["username"], defaults={"email": superuser.get("email", "")}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(superuser["password"])
        user.save()
        result["superuser"] = user.get_username()
    result["database"] = database()
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


@command()
def database() -> dict[str, Any]:
    """The database Django really uses here: ``{"engine", "vendor", "version", "name"}`` (asked, not configured)."""
    from django.db import connection

    connection.ensure_connection()
    return {
        "engine": connection.settings_dict["ENGINE"],
        "vendor": connection.vendor,
        "version": ".".join(str(part) for part in connection.get_database_version()),
        "name": str(connection.settings_dict["NAME"]),
    }


@command()
def bench_settings() -> list[dict[str, Any]]:
    """The backend's ``BENCH_SETTINGS`` for the active profile (every setting that differs from the defaults)."""
    from django.conf import settings

    return json.loads(json.dumps(list(getattr(settings, "BENCH_SETTINGS", [])), default=str))


# --------------------------------------------------------------------------------------------------------------------
# The agent process
# --------------------------------------------------------------------------------------------------------------------


def _load_extensions() -> None:
    for module in EXTENSIONS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bench.agent <command> [json-args]``."""
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(
        stream=sys.stderr, level=os.environ.get("SHOP_LOG_LEVEL", "WARNING"), format="agent %(levelname)s %(message)s"
    )
    real_stdout = sys.stdout
    try:
        if not argv or argv[0] in ("-h", "--help"):
            raise SystemExit("usage: python -m bench.agent <command> [json-object-args]")
        name, raw_args = argv[0], (argv[1] if len(argv) > 1 else "{}")
        args = json.loads(raw_args)
        if not isinstance(args, dict):
            raise ValueError("the arguments must be a JSON object")
        # Whatever Django or a library prints must not corrupt the one JSON document on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            import django

            django.setup()
            _load_extensions()
            if name not in COMMANDS:
                raise ValueError(f"unknown agent command {name!r}; known: {', '.join(sorted(COMMANDS))}")
            result = COMMANDS[name](**args)
        real_stdout.write(json.dumps({"ok": True, "result": result}, default=str) + "\n")
        return 0
    except SystemExit:
        raise
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        error = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        real_stdout.write(json.dumps(error) + "\n")
        return 1
    finally:
        real_stdout.flush()


# --------------------------------------------------------------------------------------------------------------------
# Harness side
# --------------------------------------------------------------------------------------------------------------------


def agent_argv(command_name: str, args: Mapping[str, Any] | None = None) -> list[str]:
    """The command line of one agent call (run it with the backend's environment)."""
    return [sys.executable, "-m", "bench.agent", command_name, json.dumps(dict(args or {}))]


def run_agent(
    backend: Backend,
    env: Mapping[str, str],
    command_name: str,
    args: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
) -> Any:
    """Run one agent command for ``backend`` with ``env`` and return its result.

    Raises :class:`AgentError` with the agent's error and the tail of its stderr when the command fails, prints no
    JSON, or runs longer than ``timeout`` seconds.
    """
    from bench.services.hosts import on_app_host

    # The agent is the app's side (Django management, the queue's API): on the app host with --hosts netns.
    argv = on_app_host(env, agent_argv(command_name, args))
    try:
        proc = subprocess.run(
            argv,
            env=dict(env),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        raise AgentError(f"{backend.name}: agent {command_name!r} timed out after {timeout} s{_tail(stderr)}") from None
    answer: dict[str, Any] | None = None
    for line in reversed(proc.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            answer = json.loads(line)
            break
    if answer is None:
        raise AgentError(
            f"{backend.name}: agent {command_name!r} exited with status {proc.returncode} "
            f"and printed no result{_tail(proc.stderr)}"
        )
    if not answer.get("ok"):
        raise AgentError(f"{backend.name}: agent {command_name!r} failed: {answer.get('error')}{_tail(proc.stderr)}")
    return answer["result"]


def _tail(text: str, lines: int = 15) -> str:
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return f"\n--- agent stderr (last lines) ---\n{tail}" if tail else ""


if __name__ == "__main__":
    # Run the imported module's main(), not this __main__ copy's: extensions register into bench.agent.COMMANDS.
    from bench.agent import main as _main

    sys.exit(_main())
