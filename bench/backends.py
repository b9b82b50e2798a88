"""The backends the harness knows: one ``projects/<name>/backend.toml`` each, loaded into a :class:`Backend`.

A backend is data, not code: the harness never branches on a backend's name. Adding a fifth backend means a new
project folder with its ``backend.toml`` (see docs/ARCHITECTURE.md), nothing else. A project whose library runs on
another broker too declares it as a ``[brokers.<broker>]`` table: a backend of its own (name, label, floor), run from
the same project with ``SHOP_BROKER`` set to that broker (:func:`broker_variants`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from packaging.requirements import InvalidRequirement, Requirement

from bench import PROJECTS_DIR, REPO_ROOT
from bench.errors import BackendError, BackendUnavailable, UsageError

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
#: Every floor's description (``bench/baseline*/backend.toml``: the Redis floor, the database floor).
FLOOR_GLOB = "baseline*/backend.toml"

#: ``api``: which API the shop's tasks are written against (the library's own, or Django's Tasks framework).
APIS = ("native", "django.tasks")
#: ``broker``: where the queued work lives (``SHOP_BROKER`` of its processes).
BROKERS = ("redis", "database", "rabbitmq")
#: The keys a ``[brokers.<broker>]`` table may set (the rest is the project's own description).
VARIANT_KEYS = {"name", "label", "floor", "distributions", "not_run"}
#: ``role``: a queue backend, or a floor (a raw loop on a broker, no queue library, measured beside the backends).
ROLES = ("backend", "floor")

#: The settings profiles every backend project implements (``SHOP_PROFILE``): ``bare`` the library alone (no Django
#: result store or admin middleware), ``shipped`` as its Django integration's docs set it up, ``tuned`` its documented
#: performance advice, ``safe`` its documented at-least-once settings, ``io`` its documented way to run many waiting
#: (IO-bound) tasks per core: threads, greenlets or more worker processes (``[worker.profiles] io``).
PROFILES = ("bare", "shipped", "tuned", "safe", "io")
#: Threads per worker process in the ``io`` profile, the same for every backend that has threads (``{threads}``);
#: ``{concurrency}`` is processes x threads, for a worker whose pool is one process (Celery threads, Huey threads)
#: or one process per task (RQ, django-q2).
IO_THREADS = 16
#: The placeholders a worker argv may use.
ARGV_PLACEHOLDERS = {"processes": 1, "loglevel": "WARNING", "threads": IO_THREADS, "concurrency": IO_THREADS}
DEFAULT_LOG_LEVEL = "WARNING"


@dataclass(frozen=True)
class SameProfile:
    """A profile whose configuration is another profile's (``[profiles.<name>] same_as``, backend.toml): measured once,
    under ``same_as``, and reported as "<profile>: same as <same_as> — <reason>"."""

    profile: str
    same_as: str
    reason: str


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
    #: The API the tasks are written against (:data:`APIS`) and where queued work lives (:data:`BROKERS`).
    api: str = "native"
    broker: str = "redis"
    #: ``backend`` or ``floor`` (:data:`ROLES`); ``floor`` names the floor measured for this backend's broker.
    role: str = "backend"
    floor: str | None = None
    #: PEP 508 requirements checked against the installed distributions before anything runs (a backend whose
    #: library only exists for another Django/Python is skipped with one line, not run into a traceback).
    requires: tuple[str, ...] = ()
    #: Profiles that configure exactly what another profile does (``[profiles.<name>]``), by profile.
    same_profiles: Mapping[str, SameProfile] = field(default_factory=lambda: MappingProxyType({}))
    #: Scenarios this backend does not run yet, each with the one-line reason the command line prints (``not_run``).
    not_run: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def same_as(self, profile: str) -> SameProfile | None:
        """The declaration that ``profile`` is another profile's configuration here, or ``None`` (its own)."""
        return self.same_profiles.get(profile)

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
        amqp_url: str | None = None,
        smtp_port: int | None = None,
        smtp_host: str | None = None,
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
        ``SHOP_BROKER`` is this backend's ``broker``: a project that runs on several configures its library from it
        (with ``amqp_url`` as ``SHOP_AMQP_URL`` for RabbitMQ).
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
        env["SHOP_BROKER"] = self.broker
        env["SHOP_REDIS_URL"] = redis_url
        if amqp_url:
            env["SHOP_AMQP_URL"] = amqp_url
        env["SHOP_VAR_DIR"] = str(Path(var_dir).resolve())
        env["SHOP_PROFILE"] = profile
        env["SHOP_LOG_LEVEL"] = log_level.upper()
        if smtp_port is not None:
            env["SHOP_SMTP_PORT"] = str(smtp_port)
        if smtp_host is not None:
            env["SHOP_SMTP_HOST"] = smtp_host
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
        values = _placeholders(processes, log_level)
        argv = [part.format(**values) for part in self.worker_argv_template]
        argv += [part.format(**values) for part in self.worker_profiles.get(profile, ())]
        argv[0] = self._resolve_executable(argv[0])
        return argv

    def worker_env(self, processes: int, log_level: str = DEFAULT_LOG_LEVEL) -> dict[str, str]:
        """Variables to add to :meth:`environment` for the worker processes (``[worker.env]``, substituted)."""
        values = _placeholders(processes, log_level)
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
        """Installed version of each distribution this backend records (``distributions`` and the applicable
        ``requires``); raises :class:`BackendError` if one is missing."""
        versions = {}
        for dist in dict.fromkeys([*self.distributions, *self.required_distributions()]):
            try:
                versions[dist] = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                raise BackendError(
                    f"{self.name}: the package {dist!r} is not installed in {sys.executable}; "
                    f"run `pip install -r requirements.txt` (or use `nox`)"
                ) from None
        return versions

    def unmet_requirements(self) -> list[str]:
        """The ``requires`` entries this interpreter does not satisfy, each as one short phrase (empty: all met).

        An entry whose environment marker does not apply to this interpreter is met by definition.
        """
        unmet = []
        for text in self.requires:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            try:
                installed = importlib.metadata.version(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                unmet.append(f"{requirement.name}{requirement.specifier} (not installed)")
                continue
            if not requirement.specifier.contains(installed, prereleases=True):
                unmet.append(f"{requirement.name}{requirement.specifier} (installed: {installed})")
        return unmet

    def check_available(self) -> None:
        """Raise :class:`BackendUnavailable` (one line) if this interpreter does not meet ``requires``."""
        unmet = self.unmet_requirements()
        if unmet:
            raise BackendUnavailable(
                f"{self.name}: not available on this interpreter (Python {platform.python_version()}): "
                f"needs {', '.join(unmet)}"
            )

    def required_distributions(self) -> list[str]:
        """Names of the ``requires`` entries that apply to this interpreter (recorded like ``distributions``)."""
        names = []
        for text in self.requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate():
                names.append(requirement.name)
        return names

    def check_installed(self) -> None:
        """Raise a one-line :class:`BackendError` if a library or the worker command of this backend is missing.

        :class:`BackendUnavailable` (a subclass) when ``requires`` is not met: the command lines skip such a
        backend with that line instead of failing the run.
        """
        self.check_available()
        self.versions()
        self.worker_argv(1)
        if self.django and not self.manage_py.is_file():
            raise BackendError(f"{self.name}: {self.manage_py} is missing")


def _placeholders(processes: int, log_level: str) -> dict[str, object]:
    """The values of :data:`ARGV_PLACEHOLDERS` for ``processes`` worker processes."""
    return {
        "processes": processes,
        "loglevel": log_level.upper(),
        "threads": IO_THREADS,
        "concurrency": processes * IO_THREADS,
    }


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
    tasks = _strings(data.get("tasks", list(SHOP_TASKS)), "tasks", path)
    unknown_tasks = sorted(set(tasks) - set(SHOP_TASKS))
    if unknown_tasks:
        raise BackendError(f"{path}: unknown task(s) {unknown_tasks}; valid: {', '.join(SHOP_TASKS)}")
    kinds = {"api": APIS, "broker": BROKERS, "role": ROLES}
    chosen = {key: data.get(key, valid[0]) for key, valid in kinds.items()}
    for key, valid in kinds.items():
        if chosen[key] not in valid:
            raise BackendError(f"{path}: {key} must be one of {', '.join(map(repr, valid))}, not {chosen[key]!r}")
    floor = data.get("floor")
    if floor is not None and (not isinstance(floor, str) or not floor):
        raise BackendError(f"{path}: floor must be the name of a floor backend")
    same_profiles = _same_profiles(data.get("profiles", {}), profiles, path)
    requires = _strings(data.get("requires", []), "requires", path)
    for text in requires:
        try:
            Requirement(text)
        except InvalidRequirement as exc:
            reason = str(exc).splitlines()[0]  # packaging adds the text and a caret on further lines
            raise BackendError(f"{path}: requires: {text!r} is not a PEP 508 requirement ({reason})") from None
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
        api=chosen["api"],
        broker=chosen["broker"],
        role=chosen["role"],
        floor=floor,
        requires=requires,
        same_profiles=MappingProxyType(same_profiles),
    )


def _same_profiles(raw: object, worker_profiles: Mapping[str, tuple[str, ...]], path: Path) -> dict[str, SameProfile]:
    """``[profiles.<name>] same_as = "<profile>", reason = "…"``: validated (known profiles, no chains, a reason, no
    worker argv of its own that would make the two configurations differ)."""
    if not isinstance(raw, dict):
        raise BackendError(f"{path}: [profiles] must be a table of profile tables")
    same: dict[str, SameProfile] = {}
    for profile, entry in raw.items():
        where = f"{path}: [profiles.{profile}]"
        if profile not in PROFILES:
            raise BackendError(f"{where}: unknown profile; valid: {', '.join(PROFILES)}")
        if not isinstance(entry, dict) or set(entry) != {"same_as", "reason"}:
            raise BackendError(f"{where} needs exactly same_as and reason")
        target, reason = entry["same_as"], entry["reason"]
        if target not in PROFILES or target == profile:
            raise BackendError(f"{where}: same_as must be another profile ({', '.join(PROFILES)}), not {target!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise BackendError(f"{where}: reason must say why the two profiles are the same configuration")
        if worker_profiles.get(profile, ()) != worker_profiles.get(target, ()):
            raise BackendError(f"{where}: worker.profiles differ between {profile} and {target}")
        same[profile] = SameProfile(profile, target, " ".join(reason.split()))
    chained = sorted(p for p, entry in same.items() if entry.same_as in same)
    if chained:
        raise BackendError(f"{path}: [profiles.{chained[0]}] same_as names a profile that is itself same_as another")
    return same


def broker_variants(path: str | os.PathLike[str], base: Backend | None = None) -> list[Backend]:
    """The backends a ``backend.toml`` declares on other brokers (``[brokers.<broker>]``): the project's own
    description with that table's name, label, floor, distributions and ``not_run`` (scenario → reason), and
    ``broker`` set to the table's key. Same project, same worker command; ``SHOP_BROKER`` tells its settings."""
    path = Path(path)
    base = base or load_backend(path)
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("brokers", {})
    if not isinstance(raw, dict):
        raise BackendError(f"{path}: [brokers] must be a table of broker tables")
    variants = []
    for broker, table in raw.items():
        where = f"{path}: [brokers.{broker}]"
        if broker not in BROKERS or broker == base.broker:
            raise BackendError(f"{where}: must name another broker ({', '.join(BROKERS)}), not {broker!r}")
        if not isinstance(table, dict) or not {"name", "label"} <= set(table) <= VARIANT_KEYS:
            raise BackendError(f"{where} needs name and label, and may set only {', '.join(sorted(VARIANT_KEYS))}")
        not_run = table.get("not_run", {})
        if not isinstance(not_run, dict) or not all(isinstance(v, str) and v.strip() for v in not_run.values()):
            raise BackendError(f"{where}: not_run must map scenario names to the reason they are not run")
        variants.append(
            replace(
                base,
                name=str(table["name"]),
                label=str(table["label"]),
                broker=broker,
                floor=table.get("floor"),
                distributions=_strings(table.get("distributions", list(base.distributions)), "distributions", path),
                not_run=MappingProxyType({str(k): " ".join(v.split()) for k, v in not_run.items()}),
            )
        )
    return variants


def load_backends(
    projects_dir: str | os.PathLike[str] = PROJECTS_DIR, pattern: str = "*/backend.toml", *, brokers: bool = False
) -> dict[str, Backend]:
    """Every backend of ``projects/*/backend.toml``, by name, sorted by name; ``brokers`` adds, after them, the
    backends they declare on other brokers (``[brokers.<broker>]``: :func:`broker_variants`), sorted by name."""
    backends: dict[str, Backend] = {}
    variants: list[Backend] = []
    for path in sorted(Path(projects_dir).glob(pattern)):
        backend = load_backend(path)
        variants += broker_variants(path, backend) if brokers else []
        _add(backends, backend)
    for variant in sorted(variants, key=lambda b: b.name):
        _add(backends, variant)
    return dict(sorted(backends.items(), key=lambda item: (item[1] in variants, item[0])))


def _add(backends: dict[str, Backend], backend: Backend) -> None:
    """Add ``backend`` by name; a name taken already is a :class:`BackendError` naming both projects."""
    if backend.name in backends:
        raise BackendError(
            f"two backends are named {backend.name!r}: {backends[backend.name].project_dir} and {backend.project_dir}"
        )
    backends[backend.name] = backend


def load_baseline() -> Backend:
    """The Redis floor (``bench/baseline/backend.toml``): measured beside the backends, not one of them."""
    return load_backend(BASELINE_TOML)


def load_floors() -> dict[str, Backend]:
    """Every floor (``bench/baseline*/backend.toml``: the Redis floor, the database floor), by name."""
    return load_backends(REPO_ROOT / "bench", pattern=FLOOR_GLOB)


def get_backends(
    names: Iterable[str] | None = None,
    projects_dir: str | os.PathLike[str] = PROJECTS_DIR,
    *,
    with_baseline: bool = False,
    with_brokers: bool | None = None,
) -> list[Backend]:
    """The backends named (all when ``names`` is empty or ``None``), in the order given.

    ``with_baseline`` adds the floors (Redis, database, AMQP) to the choice (and to "all"); ``with_brokers`` (default:
    as ``with_baseline``, the command line's choice) the backends projects declare on other brokers (RabbitMQ). An
    unknown name raises :class:`UsageError` whose one-line message lists the valid names.
    """
    available = load_backends(projects_dir, brokers=with_baseline if with_brokers is None else with_brokers)
    if with_baseline:
        available.update(load_floors())
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
