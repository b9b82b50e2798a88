"""The backends the harness knows: one ``projects/<name>/backend.toml`` each, loaded into a :class:`Backend`.

A backend is data, not code: the harness never branches on a backend's name. Adding a fifth backend means a new
project folder with its ``backend.toml`` (see docs/ARCHITECTURE.md), nothing else.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from packaging.requirements import InvalidRequirement, Requirement

from bench import PROJECTS_DIR, REPO_ROOT
from bench.errors import BackendError, UnavailableBackend, UsageError

#: Every task a backend project implements (ARCHITECTURE.md); ``tasks`` in backend.toml may list fewer.
SHOP_TASKS = (
    "noop",
    "send_invoice_email",
    "import_products",
    "build_sales_report",
    "sleep",
    "flaky_default",
    "flaky_retry",
)
#: The Redis floor's description.
BASELINE_TOML = REPO_ROOT / "bench" / "baseline" / "backend.toml"

#: The settings profiles every backend project implements (``SHOP_PROFILE``).
PROFILES = ("shipped", "tuned", "safe")
#: The placeholders a worker argv may use.
ARGV_PLACEHOLDERS = {"processes": 1, "loglevel": "WARNING"}
DEFAULT_LOG_LEVEL = "WARNING"
#: ``api`` in backend.toml: the library's own API, or Django's Tasks framework (``django.tasks`` or its backport).
APIS = ("native", "django.tasks")
#: ``broker`` in backend.toml: where the queue lives.
BROKERS = ("redis", "database")


@dataclass(frozen=True)
class Backend:
    """One backend project as the harness sees it (from its ``backend.toml``)."""

    name: str
    label: str
    django_package: str
    project_dir: Path
    distributions: tuple[str, ...]
    #: The worker command line with ``{processes}`` and ``{loglevel}`` placeholders.
    worker_argv_template: tuple[str, ...]
    #: Extra worker argv appended for a profile.
    worker_profiles: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    #: Extra environment of the worker processes, same placeholders (for a library whose worker CLI has no
    #: process-count option and reads it from its settings).
    worker_env_template: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: The shop tasks this backend implements (the Redis floor only has ``noop``).
    tasks: tuple[str, ...] = SHOP_TASKS
    #: Whether it is a Django project (the Redis floor is not: no settings, no database, no verification).
    django: bool = True
    #: The module holding ``ENQUEUE`` when it is not ``<django_package>.queue``.
    queue_module_name: str | None = None
    #: Which API the project uses (one of :data:`APIS`); ``None`` for the Redis floor, which uses no queue library.
    api: str | None = None
    #: Where its queue lives (one of :data:`BROKERS`).
    broker: str | None = None
    #: Requirements the running interpreter must meet (``"django>=6.0"``, PEP 508 without markers); a backend whose
    #: requirement is not met is not available on this interpreter (:meth:`check_installed`).
    requires: tuple[str, ...] = ()

    @property
    def settings_module(self) -> str:
        """``DJANGO_SETTINGS_MODULE`` of this backend's project."""
        return f"{self.django_package}.settings"

    @property
    def queue_module(self) -> str:
        """The module holding ``ENQUEUE`` and ``enqueue()`` (ARCHITECTURE.md, backend project contract)."""
        return self.queue_module_name or f"{self.django_package}.queue"

    @property
    def manage_py(self) -> Path:
        """The project's ``manage.py``."""
        return self.project_dir / "manage.py"

    def environment(
        self,
        *,
        redis_url: str,
        var_dir: str | os.PathLike[str],
        smtp_port: int | None = None,
        channel_dir: str | os.PathLike[str] | None = None,
        profile: str = "shipped",
        log_level: str = DEFAULT_LOG_LEVEL,
        database_url: str | None = None,
        fast_faults: bool = False,
        extra: Mapping[str, str] | None = None,
        base: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of every process of this backend (web server, workers, agent).

        Starts from ``base`` (default: ``os.environ``) minus any ``SHOP_*``/Django variables it carries, so that a
        variable set in the user's shell cannot leak into one backend and not another. ``extra`` is applied last.
        """
        check_profile(profile)
        env = {
            k: v
            for k, v in (os.environ if base is None else base).items()
            if not k.startswith("SHOP_") and k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
        }
        # This interpreter's bin/ first: the worker commands (celery, ...) are the ones installed next to it.
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
        # The repo root too, so `python -m bench.agent` works whatever the cwd.
        env["PYTHONPATH"] = os.pathsep.join([str(self.project_dir), str(PROJECTS_DIR), str(REPO_ROOT)])
        if self.django:
            env["DJANGO_SETTINGS_MODULE"] = self.settings_module
        env["PYTHONUNBUFFERED"] = "1"
        env["SHOP_BACKEND"] = self.name
        env["SHOP_REDIS_URL"] = redis_url
        env["SHOP_VAR_DIR"] = str(Path(var_dir).resolve())
        env["SHOP_PROFILE"] = profile
        env["SHOP_LOG_LEVEL"] = log_level.upper()
        if smtp_port is not None:
            env["SHOP_SMTP_PORT"] = str(smtp_port)
        if channel_dir is not None:
            env["SHOP_CHANNEL_DIR"] = str(Path(channel_dir).resolve())
        if database_url:
            env["SHOP_DATABASE_URL"] = database_url
        if fast_faults:
            env["SHOP_FAST_FAULTS"] = "1"
        env.update(extra or {})
        return env

    def worker_argv(self, processes: int, profile: str = "shipped", log_level: str = DEFAULT_LOG_LEVEL) -> list[str]:
        """The worker command line for ``processes`` worker processes and ``profile``; run it with cwd=project_dir.

        The executable is resolved now (``python`` → this interpreter), so a missing worker command is a clear
        :class:`BackendError` instead of a worker that never starts.
        """
        check_profile(profile)
        if processes < 1:
            raise UsageError(f"worker processes must be ≥ 1, not {processes}")
        values = {"processes": processes, "loglevel": log_level.upper()}
        argv = [part.format(**values) for part in self.worker_argv_template]
        argv += [part.format(**values) for part in self.worker_profiles.get(profile, ())]
        argv[0] = self._resolve_executable(argv[0])
        return argv

    def worker_env(self, processes: int, log_level: str = DEFAULT_LOG_LEVEL) -> dict[str, str]:
        """Variables to add to :meth:`environment` for the worker processes (``[worker.env]``, substituted)."""
        values = {"processes": processes, "loglevel": log_level.upper()}
        return {key: value.format(**values) for key, value in self.worker_env_template.items()}

    def manage_argv(self, *args: str) -> list[str]:
        """``python manage.py <args>`` for this project (run with cwd=project_dir and :meth:`environment`)."""
        return [sys.executable, str(self.manage_py), *args]

    def _resolve_executable(self, command: str) -> str:
        if command in ("python", "python3"):
            return sys.executable
        search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
        found = shutil.which(command, path=search)
        if found is None:
            raise BackendError(
                f"{self.name}: worker command {command!r} not found next to {sys.executable} or on PATH; "
                f"install the requirements (pip install -r requirements.txt)"
            )
        return found

    def versions(self) -> dict[str, str]:
        """Installed version of each distribution this backend records; raises :class:`BackendError` if missing."""
        versions = {}
        for dist in self.distributions:
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                raise BackendError(
                    f"{self.name}: the package {dist!r} is not installed in {sys.executable}; "
                    f"run `pip install -r requirements.txt` (or use `nox`)"
                ) from None
        return versions

    def unmet_requirements(self) -> list[str]:
        """The ``requires`` entries the installed distributions do not meet (``"django>=6.0 (installed 5.2)"``)."""
        unmet = []
        for text in self.requires:
            requirement = Requirement(text)
            try:
                installed = importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                unmet.append(f"{text} (not installed)")
                continue
            if not requirement.specifier.contains(installed, prereleases=True):
                unmet.append(f"{text} (installed {installed})")
        return unmet

    def check_installed(self) -> None:
        """Raise a one-line :class:`BackendError` if a library or the worker command of this backend is missing.

        A backend whose ``requires`` the interpreter does not meet raises :class:`UnavailableBackend` first, so the
        command line can skip it with one line instead of failing.
        """
        unmet = self.unmet_requirements()
        if unmet:
            raise UnavailableBackend(
                f"{self.name}: not available on this interpreter (Python {sys.version.split()[0]}): "
                f"requires {', '.join(unmet)}"
            )
        self.versions()
        self.worker_argv(1)
        if self.django and not self.manage_py.is_file():
            raise BackendError(f"{self.name}: {self.manage_py} is missing")


def check_profile(profile: str) -> None:
    """Raise :class:`UsageError` naming the valid profiles if ``profile`` is not one."""
    if profile not in PROFILES:
        raise UsageError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")


def _strings(value: object, what: str, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BackendError(f"{path}: {what} must be a list of strings")
    return tuple(value)


def load_backend(path: str | os.PathLike[str]) -> Backend:
    """Load and validate one ``backend.toml``; a malformed file raises :class:`BackendError` naming it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BackendError(f"{path}: {exc}") from exc
    django = data.get("django", True)
    if not isinstance(django, bool):
        raise BackendError(f"{path}: django must be true or false")
    try:
        name, label = data["name"], data["label"]
        package = data["django_package"] if django else ""
        worker = data["worker"]
        template = _strings(worker["argv"], "worker.argv", path)
    except KeyError as exc:
        raise BackendError(f"{path}: missing key {exc.args[0]!r}") from None
    if not template:
        raise BackendError(f"{path}: worker.argv is empty")
    profiles_raw = worker.get("profiles", {})
    unknown = set(profiles_raw) - set(PROFILES)
    if unknown:
        raise BackendError(f"{path}: unknown profile(s) {sorted(unknown)} in worker.profiles; valid: {PROFILES}")
    profiles = {p: _strings(v, f"worker.profiles.{p}", path) for p, v in profiles_raw.items()}
    worker_env = worker.get("env", {})
    if not isinstance(worker_env, dict) or not all(isinstance(v, str) for v in worker_env.values()):
        raise BackendError(f"{path}: worker.env must be a table of strings")
    for part in (*template, *(a for argv in profiles.values() for a in argv), *worker_env.values()):
        try:
            part.format(**ARGV_PLACEHOLDERS)
        except (KeyError, IndexError, ValueError) as exc:
            raise BackendError(
                f"{path}: bad placeholder in worker argv {part!r}; allowed: {sorted(ARGV_PLACEHOLDERS)}"
            ) from exc
    api, broker = data.get("api"), data.get("broker")
    for key, value, valid in (("api", api, APIS), ("broker", broker, BROKERS)):
        if value is None and not django:
            continue  # the Redis floor uses no queue library
        if value not in valid:
            shown = "missing" if value is None else repr(value)
            raise BackendError(f"{path}: {key} is {shown}; valid: {', '.join(valid)}")
    requires = _strings(data.get("requires", []), "requires", path)
    for text in requires:
        _check_requirement(text, path)
    tasks = _strings(data.get("tasks", list(SHOP_TASKS)), "tasks", path)
    unknown_tasks = sorted(set(tasks) - set(SHOP_TASKS))
    if unknown_tasks:
        raise BackendError(f"{path}: unknown task(s) {unknown_tasks}; valid: {', '.join(SHOP_TASKS)}")
    return Backend(
        name=str(name),
        label=str(label),
        django_package=str(package),
        project_dir=path.parent.resolve(),
        distributions=_strings(data.get("distributions", []), "distributions", path),
        worker_argv_template=template,
        worker_profiles=MappingProxyType(profiles),
        worker_env_template=MappingProxyType(dict(worker_env)),
        tasks=tasks,
        django=django,
        queue_module_name=data.get("queue_module"),
        api=api,
        broker=broker,
        requires=requires,
    )


def _check_requirement(text: str, path: Path) -> None:
    try:
        requirement = Requirement(text)
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]  # packaging adds the text and a caret on further lines
        raise BackendError(f"{path}: bad entry in requires {text!r}: {reason}") from None
    if requirement.marker is not None or requirement.extras or requirement.url:
        raise BackendError(f"{path}: requires {text!r} must be a name and a version specifier only")


def load_backends(projects_dir: str | os.PathLike[str] = PROJECTS_DIR) -> dict[str, Backend]:
    """Every backend of ``projects/*/backend.toml``, by name, sorted by name."""
    backends: dict[str, Backend] = {}
    for path in sorted(Path(projects_dir).glob("*/backend.toml")):
        backend = load_backend(path)
        if backend.name in backends:
            raise BackendError(
                f"two backends are named {backend.name!r}: {backends[backend.name].project_dir} and {path.parent}"
            )
        backends[backend.name] = backend
    return dict(sorted(backends.items()))


def load_baseline() -> Backend:
    """The Redis floor (``bench/baseline/backend.toml``): measured beside the backends, not one of them."""
    return load_backend(BASELINE_TOML)


def get_backends(
    names: Iterable[str] | None = None,
    projects_dir: str | os.PathLike[str] = PROJECTS_DIR,
    *,
    with_baseline: bool = False,
) -> list[Backend]:
    """The backends named (all when ``names`` is empty or ``None``), in the order given.

    ``with_baseline`` adds the Redis floor to the choice (and to "all"). An unknown name raises
    :class:`UsageError` whose one-line message lists the valid names.
    """
    available = load_backends(projects_dir)
    if with_baseline:
        baseline = load_baseline()
        available[baseline.name] = baseline
    if not available:
        raise BackendError(f"no backend projects found (no {Path(projects_dir)}/*/backend.toml)")
    wanted = [n.strip() for n in (names or []) if n.strip()]
    if not wanted:
        return list(available.values())
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise UsageError(f"unknown backend {', '.join(map(repr, unknown))}; valid backends: {', '.join(available)}")
    return [available[n] for n in dict.fromkeys(wanted)]


def get_backend(name: str, projects_dir: str | os.PathLike[str] = PROJECTS_DIR) -> Backend:
    """The one backend called ``name`` (:class:`UsageError` listing the valid names if there is none)."""
    return get_backends([name], projects_dir)[0]
