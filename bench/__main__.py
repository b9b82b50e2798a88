"""``python -m bench`` (what ``nox -s bench`` runs): measure the backends and write a results file and report.

Examples::

    python -m bench --quick                          # every backend + the Redis floor, quick preset
    python -m bench --backends celery,huey --scenarios enqueue,latency --profile tuned
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import REPO_ROOT
from bench.agent import run_agent
from bench.backends import PROFILES, Backend, get_backends
from bench.environment import capture_environment, finish_environment
from bench.errors import BackendUnavailable, BenchError, ServiceError, UsageError
from bench.network import parse_networks
from bench.progress import RunProgress, is_fault_session
from bench.results import Record, RunResults, write_results
from bench.runner import RunContext, Session, SessionSpec, plan_sessions, run_context
from bench.scenarios import (
    FAULT_PROFILES,
    FAULT_SCENARIOS,
    SCENARIOS,
    Preset,
    load_presets,
    parse_preset,
    select_scenarios,
)
from bench.services import (
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    SmtpSink,
    check_amqp_reachable,
    check_redis_url,
    postgres_available,
    rabbitmq_available,
)
from bench.services.hosts import unavailable_reason as hosts_unavailable_reason

#: Log levels every backend's logging accepts (Python's logging names; the worker CLIs take the same).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The database engines a run can use (``--database``).
DATABASES = ("postgres", "sqlite")

# Wide enough for the summary table when the output is a file or a CI log (no terminal to measure).
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options; see ``--help``."""
    presets = load_presets()
    parser = argparse.ArgumentParser(
        prog="nox -s bench --",
        description="Benchmark Django task queues on real workers and a private Redis.",
        epilog="Scenarios: " + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the quick preset (~5 min of benchmarking for the Redis and database backends on 2 cores), as --preset "
        "quick",
    )
    parser.add_argument("--preset", choices=sorted(presets), help="preset by name (default: full; not with --quick)")
    parser.add_argument(
        "--backends",
        help="comma-separated backend names (default: all, with the floors; the RabbitMQ ones, celery-rabbitmq, "
        "dramatiq-rabbitmq and amqp-baseline, when rabbitmq-server is installed or --amqp-url is given)",
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated scenario names, or all (default: all but those the preset's left_out names; quick "
        "leaves out the channel-overhead check, retries, faults and the DB statement counts)",
    )
    parser.add_argument(
        "--profile",
        default="shipped",
        help=f"profile(s), comma-separated, or 'all' ({', '.join(PROFILES)}): bare = the library without its Django "
        "result store or admin middleware, shipped = as its Django integration's docs set it up, tuned = its "
        "documented performance advice, safe = its at-least-once settings. A profile a backend declares the same "
        "configuration as another one in the run (backend.toml [profiles]) is measured once and reported as such",
    )
    parser.add_argument("--repetitions", type=int, help="override the preset's repetition count")
    parser.add_argument(
        "--processes",
        help="worker process counts of the noop backlog, comma-separated, e.g. 1,2,4 to see how each backend scales "
        "(default: the preset's; the preset's default count, at which everything else runs, is always included)",
    )
    parser.add_argument(
        "--fault-profiles",
        help=f"profiles the retry and fault scenarios run in, comma-separated: {', '.join(FAULT_PROFILES)} "
        "(default: the preset's, shipped; safe = each library's documented at-least-once settings)",
    )
    parser.add_argument(
        "--redis-url",
        help="use this Redis instead of a private one; the URL's database (default 0) is emptied with FLUSHDB "
        "before and during the run, other databases are left alone (fault scenarios need a private Redis)",
    )
    parser.add_argument(
        "--amqp-url",
        help="use this RabbitMQ (amqp://user:password@host:port/vhost) for the RabbitMQ backends instead of a private "
        "node; checked at start (fault scenarios need a private node)",
    )
    parser.add_argument(
        "--database",
        choices=DATABASES,
        help="Django's database for every backend: a private PostgreSQL cluster (default when initdb/postgres are "
        "installed) or SQLite files (the shop's embedded default; the fallback, recorded, when they are not)",
    )
    parser.add_argument(
        "--database-url",
        help="use this PostgreSQL (postgres://user@host/db) instead of a private cluster; a database per backend, "
        "profile and kind is created next to the given one and dropped afterwards",
    )
    parser.add_argument(
        "--network",
        help="network(s), comma-separated, every session is run at each: loopback (direct, the default), "
        "loopback+proxy (through the delay proxy at zero delay: its own cost), lan (0.5 ms round trip), az (2 ms), "
        "rtt=1.5ms (any round trip); the SMTP hop is 40 ms away on lan/az/rtt=, or as given: rtt=1.5ms:smtp=10ms. "
        "The report's main part shows the first; a 'Sensitivity to the network' section compares them",
    )
    parser.add_argument(
        "--hosts",
        choices=("one", "netns"),
        default="one",
        help="one: every process on this host's loopback (the default); netns: the app (producer), the workers and "
        "the broker on three hosts of their own, network namespaces joined by links, the broker at 198.18.0.1 "
        "(needs root; without it the run says so in one line and runs on one host)",
    )
    parser.add_argument("--out", type=Path, help="results directory (default: results/<run id>)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the run order shuffle (default: random)")
    parser.add_argument(
        "--log-level", default="WARNING", help=f"the one log level every backend runs with: {', '.join(LOG_LEVELS)}"
    )
    parser.add_argument("--no-report", action="store_true", help="write the results JSON only")
    options = parser.parse_args(argv)
    if options.quick and options.preset:
        raise UsageError(f"--quick is the preset 'quick': give --quick or --preset {options.preset}, not both")
    options.log_level = options.log_level.upper()
    if options.log_level not in LOG_LEVELS:
        raise UsageError(f"unknown log level {options.log_level!r}; valid: {', '.join(LOG_LEVELS)}")
    if options.redis_url is not None:
        check_redis_url(options.redis_url)
    if options.amqp_url is not None:
        check_amqp_reachable(options.amqp_url)
    preset_name = "quick" if options.quick else options.preset or "full"
    options.preset_obj = presets[preset_name]
    if options.repetitions is not None:
        if options.repetitions < 1:
            raise UsageError("--repetitions must be >= 1")
        options.preset_obj = replace(options.preset_obj, repetitions=options.repetitions)
    options.preset_obj = override_preset(options.preset_obj, options.processes, options.fault_profiles)
    asked = _split(options.scenarios)
    options.scenario_list = select_scenarios(asked)
    # Without --scenarios a preset runs every scenario but those its time budget leaves out (recorded, reported).
    options.left_out = () if asked else tuple(options.preset_obj.left_out)
    options.scenario_list = tuple(s for s in options.scenario_list if s not in options.left_out)
    options.networks = tuple(parse_networks(options.network))
    profiles = _split(options.profile) or ["shipped"]
    if profiles == ["all"]:
        profiles = list(PROFILES)
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        raise UsageError(f"unknown profile(s): {', '.join(unknown)}; valid: {', '.join(PROFILES)}, all")
    options.profiles = profiles
    options.backend_list = get_backends(_split(options.backends), with_baseline=True)
    options.database, options.database_fallback = choose_database(options.database, options.database_url)
    if options.seed is None:
        options.seed = int(time.time()) % 100_000
    return options


def override_preset(preset: Preset, processes: str | None, fault_profiles: str | None) -> Preset:
    """The preset with ``--processes`` / ``--fault-profiles`` applied, validated as a preset is when loaded.

    The full preset measures at its default process count only and faults in ``shipped`` only, to fit its 30-min
    budget on 2 cores; these flags bring back the 1- and 4-process backlogs and the ``safe`` fault sessions.
    """
    overrides: dict[str, Any] = {}
    if processes is not None:
        try:
            counts = {int(p) for p in _split(processes)}
        except ValueError:
            message = f"--processes takes comma-separated worker counts, e.g. 1,2,4; got {processes!r}"
            raise UsageError(message) from None
        if not counts:
            raise UsageError("--processes needs at least one worker count, e.g. 1,2,4")
        overrides["processes"] = sorted(counts | {preset.default_processes})
    if fault_profiles is not None:
        overrides["fault_profiles"] = list(dict.fromkeys(_split(fault_profiles)))
    if not overrides:
        return preset
    try:
        table = {k: v for k, v in preset.as_dict().items() if k != "name"}
        return parse_preset(preset.name, table | overrides)
    except UsageError as exc:
        flags = " / ".join(f"--{k.replace('_', '-')}" for k in overrides)
        raise UsageError(f"{flags}: {exc}") from None


def choose_database(requested: str | None, url: str | None) -> tuple[str, str | None]:
    """The engine of the run and, when the default PostgreSQL cannot be had, why the run falls back to SQLite.

    PostgreSQL is the default: it is what a Django deployment runs, and the DB-writing integrations (Celery's
    django-db results, django-q2's monitor, django_dramatiq's admin rows) rank differently on SQLite.
    An explicit ``--database postgres`` without the binaries is an error, not a fallback.
    """
    if url:
        if requested == "sqlite":
            raise UsageError("--database sqlite and --database-url contradict each other")
        return "postgres", None
    if requested == "sqlite":
        return "sqlite", None
    missing = postgres_available()
    if missing is None:
        return "postgres", None
    if requested == "postgres":
        raise ServiceError(missing)
    return "sqlite", missing


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def run_id(commit: str | None) -> str:
    """``2026-11-25T13-05-00Z-ab12cd3``: sortable, unique per run, names the code measured."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    return f"{stamp}-{(commit or 'nogit')[:7]}"


def same_profile_skips(backends: list[Backend], profiles: list[str]) -> dict[tuple[str, str], str]:
    """(backend, profile) → the profile it is measured as: a profile the backend declares the same configuration as
    another profile of this run (backend.toml ``[profiles.<name>] same_as``) is not measured twice."""
    skips = {}
    for backend in backends:
        for profile in profiles:
            same = backend.same_as(profile)
            if same is not None and same.same_as in profiles:
                skips[(backend.name, profile)] = same.same_as
    return skips


def backend_descriptions(backends: list[Backend], profiles: list[str], ctx: Any) -> dict[str, Any]:
    """Labels, library versions, worker command and every non-default setting per backend and profile.

    A profile the backend declares the same configuration as another (backend.toml ``[profiles]``) carries
    ``same_as`` and ``same_reason``; the report says "<profile>: same as <same_as> — <reason>".
    """
    described: dict[str, Any] = {}
    for backend in backends:
        entry: dict[str, Any] = {
            "label": backend.label,
            "versions": backend.versions(),
            # How the report groups and compares it (backend.toml): API, broker, floor or backend, and its floor.
            "api": backend.api,
            "broker": backend.broker,
            "role": backend.role,
            "floor": backend.floor,
            # The project it runs (the same for a library's backends on several brokers) and what it does not run.
            "project": backend.project_dir.name,
            "not_run": dict(backend.not_run),
            "profiles": {},
        }
        for profile in profiles:
            env = backend.environment(
                redis_url=ctx.redis.url,
                amqp_url=ctx.amqp_url,
                var_dir=ctx.workdir / f"var-{backend.name}-{profile}",
                smtp_port=ctx.smtp.port,
                profile=profile,
                log_level=ctx.log_level,
                fast_faults=profile == "safe",  # as the sessions run it: the shortened timeouts are listed too
            )
            settings = run_agent(backend, env, "bench_settings", {}, timeout=120) if backend.django else []
            entry["profiles"][profile] = {
                "worker_argv": backend.worker_argv(ctx.preset.default_processes, profile, ctx.log_level),
                "settings": settings,
            }
            if (same := backend.same_as(profile)) is not None:
                entry["profiles"][profile] |= {"same_as": same.same_as, "same_reason": same.reason}
        described[backend.name] = entry
    return described


def database_record(ctx: RunContext, fallback: str | None) -> dict[str, Any]:
    """``environment.database``: engine, server version, whether the harness started it, why SQLite if it fell back."""
    if ctx.database is not None:
        return ctx.database.describe()
    # The workers use the sqlite3 module of this same interpreter.
    record: dict[str, Any] = {"engine": "sqlite", "version": sqlite3.sqlite_version, "private": True}
    if fallback:
        record["fallback_reason"] = fallback
    return record


def _database_label(ctx: RunContext) -> str:
    if ctx.database is None:
        return "SQLite"
    return "PostgreSQL (private cluster)" if isinstance(ctx.database, PostgresServer) else "PostgreSQL (--database-url)"


def summary_table(results: RunResults) -> Table:
    """The end-of-run table: one row per backend and profile; every figure from ``bench.report.figures.FIGURES``
    with its ratio to the floor from ``bench.report.derived``.

    The same definitions compute the report's figures (ratio to the floor, sustainable rate), so the terminal and the
    report never disagree.
    """
    from bench.report import derived  # local: the report package loads matplotlib
    from bench.report.figures import FIGURES
    from bench.report.numbers import duration_ns, rate_text, ratio_text

    cores = results.environment.get("cpu_count")
    preset = results.run.get("preset_params", {})
    bound_ns = preset.get("latency_bound_ms", 100.0) * 1e6
    throughput_processes = sorted(
        {r.params["processes"] for r in results.records if r.scenario == "throughput" and "processes" in r.params}
    )
    processes = derived.headline_processes(results, throughput_processes)
    table = Table(
        title=f"Summary ({results.run.get('preset')} preset; medians over repetitions; × floor = ratio to the floor "
        f"measured in the same run)"
    )
    for column in (
        "backend",
        "profile",
        "verified",
        "enqueue p50 (× floor)",
        "enqueue p99",
        f"tasks/s @{processes} proc. (% floor)",
        "max sustained rate",
        "first rate not sustained",
        "idle pickup",
        "RSS idle",
        "DB stmts / commits per task",
    ):
        table.add_column(column, justify="right" if column not in ("backend", "profile") else "left")
    profiles = sorted(results.profiles, key=lambda p: PROFILES.index(p) if p in PROFILES else len(PROFILES))
    for backend in results.backend_names:
        for profile in profiles:
            records = results.select(backend=backend, profile=profile)
            same = derived.same_profile(results, backend, profile)
            if not records and same is not None and results.select(backend=backend, profile=same[0]):
                table.add_row(backend, profile, f"same as {same[0]}", *["–"] * (len(table.columns) - 3))
                continue
            if not records or all(r.scenario in FAULT_SCENARIOS for r in records):
                continue  # fault-only profiles are summarised in the report's fault tables
            failed = [r for r in records if r.scenario in ("verification", "session") and r.status != "ok"]

            def measured(name: str, params: dict[str, Any], _b: str = backend, _p: str = profile) -> derived.Measured:
                return derived.figure(results, _b, _p, FIGURES[name], params)

            noop = {"task": "noop"}
            enqueue = measured("enqueue_p50", noop)
            p99 = measured("enqueue_p99", noop)
            tput = measured("tasks_per_s", {"task": "noop", "mode": "backlog", "processes": processes})
            statements, commits = measured("db_statements", noop), measured("db_write_commits", noop)
            db_text = "–"
            if statements.values:
                db_text = (
                    f"{derived.per_task_count(statements.median):.1f} / {derived.per_task_count(commits.median):.1f}"
                )
            states = derived.rate_states([r for r in records if r.scenario == "latency"], bound_ns)
            failure = derived.first_failure(states)
            idle = [r.params for r in records if r.scenario == "idle_pickup"][:1]
            pickup = measured("idle_pickup", idle[0]) if idle else None
            default = preset.get("default_processes")
            rss = measured("rss_idle", {"processes": default} if default is not None else {})
            enqueue_text = duration_ns(enqueue.median) if enqueue.values else "–"
            if enqueue.ratio is not None:
                enqueue_text += f" ({ratio_text(enqueue.ratio)})"
            tput_text = rate_text(tput.median, "").strip() if tput.values else "–"
            if tput.ratio is not None:
                tput_text += f" ({tput.ratio * 100:.2g} %)"
            table.add_row(
                backend + (" (floor)" if derived.is_floor(results, backend) else ""),
                profile,
                "FAILED" if failed else "yes",
                enqueue_text,
                FIGURES["enqueue_p99"].text(p99.median) if p99.values else "–",
                tput_text,
                derived.sustainable_text(states) if states else "–",
                f"{failure.rate:g}/s: {failure.state}" if failure else "–",
                FIGURES["idle_pickup"].text(pickup.median) if pickup and pickup.values else "–",
                FIGURES["rss_idle"].text(rss.median) if rss.median else "–",
                db_text,
            )
    if isinstance(cores, int) and processes != cores:
        table.caption = f"throughput at {processes} processes: the run has no throughput at the {cores} cores"
    return table


def count_db_statements(
    backends: list[Backend],
    profiles: list[str],
    skips: dict[tuple[str, str], str],
    ctx: RunContext,
    say: Callable[[str], object],
) -> list[dict[str, Any]]:
    """``db_statements`` records: per Django backend and measured profile, the statements, write commits and new
    connections per noop task, counted on a private PostgreSQL cluster logging every statement (bench.db_statements).

    Counts, not timings: they run after the performance sessions, beside nothing. Without PostgreSQL's server binaries
    nothing is counted (one line says why).
    """
    missing = postgres_available()
    if missing is not None:
        say(f"DB statements per task not counted: {missing}")
        return []
    from bench import db_statements

    pairs = [(b, p) for b in backends for p in profiles if b.django and (b.name, p) not in skips]
    return db_statements.count_records(
        pairs,
        redis=ctx.redis,
        smtp=ctx.smtp,
        workdir=ctx.workdir / "db-statements",
        processes=ctx.preset.default_processes,
        progress=say,
        amqp_url=ctx.amqp_url,
    )


def per_backend_side_by_side(
    specs: list[SessionSpec],
    ctx: RunContext,
    work: Callable[[SessionSpec, RunContext], None],
    *,
    label: str,
    threads: int | None = None,
    own_rabbitmq: bool = False,
) -> None:
    """``work(spec, ctx)`` for every spec, one thread per backend (its specs one after the other), each backend with
    its own private Redis and SMTP sink (``redis-<label><backend>``, ``maildir-<label><backend>`` in the workdir), so
    flushing or restarting one backend's broker hits nobody else; with ``own_rabbitmq`` (the fault phase) a backend
    on RabbitMQ also gets a private node of its own when the run's node is private. With ``--redis-url`` (one
    shared broker) the specs run one after the other on it.
    """
    if not isinstance(ctx.redis, RedisServer):
        for spec in specs:
            work(spec, ctx)
        return
    by_backend: dict[str, list[SessionSpec]] = {}
    for spec in specs:
        by_backend.setdefault(spec.backend.name, []).append(spec)

    def run_backend(name: str, group: list[SessionSpec]) -> None:
        with contextlib.ExitStack() as stack:
            redis = stack.enter_context(RedisServer(data_dir=ctx.workdir / f"redis-{label}{name}"))
            smtp = stack.enter_context(SmtpSink(ctx.workdir / f"maildir-{label}{name}"))
            own = replace(ctx, redis=redis, smtp=smtp)
            if own_rabbitmq and isinstance(ctx.rabbitmq, RabbitMQServer) and group[0].backend.broker == "rabbitmq":
                own = replace(own, rabbitmq=stack.enter_context(RabbitMQServer()))
            for spec in group:
                work(spec, own)

    with ThreadPoolExecutor(max_workers=max(1, min(threads or len(by_backend), len(by_backend)))) as pool:
        for future in [pool.submit(run_backend, name, group) for name, group in by_backend.items()]:
            future.result()


#: Backends verified and migrated at the same time before the timed sessions (2 cores: more only queue up).
SETUP_THREADS = 4


def prepare_side_by_side(specs: list[SessionSpec], ctx: RunContext, say: Callable[[str], object]) -> None:
    """Verification and migrations of every Django backend, profile and repetition the timed sessions will need,
    before the first of them, backends side by side (at most :data:`SETUP_THREADS` at a time).

    Neither is a measurement (a session only reads the verdict and finds its database migrated), so running them
    concurrently changes no number, and it takes ~15 s per backend out of the timed phase's wall clock. Verification
    flushes Redis and the SMTP sink, hence a private pair per backend; with ``--redis-url`` each session verifies and
    migrates as it starts instead.
    """
    firsts: dict[tuple[str, str, int], SessionSpec] = {}
    for spec in specs:
        if spec.backend.django:
            firsts.setdefault((spec.backend.name, spec.profile, spec.repetition), spec)
    if not firsts or not isinstance(ctx.redis, RedisServer):
        return
    say(f"verifying and migrating {', '.join(dict.fromkeys(k[0] for k in firsts))} side by side (not timed)")
    per_backend_side_by_side(
        list(firsts.values()),
        ctx,
        lambda spec, own: Session(spec, own).prepare_ahead(),
        label="setup-",
        threads=SETUP_THREADS,
    )


def run_fault_sessions(
    specs: list[SessionSpec], ctx: RunContext, run_session: Callable[[SessionSpec, RunContext], None]
) -> None:
    """Fault sessions, one thread per backend, each backend with its own private Redis and SMTP sink.

    They run after every performance session, so their concurrency never touches a performance number. Fault
    scenarios mostly wait (long tasks, observation windows), so running the backends side by side keeps the run
    within its time budget; a backend's own Redis (and RabbitMQ node) lets its restarts hit nobody else. With
    ``--redis-url`` (one shared broker that cannot be restarted here) they run one after the other.
    """
    per_backend_side_by_side(specs, ctx, run_session, label="", own_rabbitmq=True)


def available_backends(backends: list[Backend], say: Callable[[str], object]) -> list[Backend]:
    """The backends whose libraries are installed for this interpreter; each one that is not is announced with one
    line (``say``) and skipped. A missing library or worker command of an available backend is an error."""
    available = []
    for backend in backends:
        try:
            backend.check_installed()
        except BackendUnavailable as exc:
            say(f"skipped: {exc}")
            continue
        available.append(backend)
    if not available:
        raise UsageError("none of the chosen backends is available on this interpreter")
    return available


def with_rabbitmq(backends: list[Backend], amqp_url: str | None, say: Callable[[str], object]) -> list[Backend]:
    """The backends minus those on RabbitMQ (``broker = "rabbitmq"``) when the run can have no node: no
    ``rabbitmq-server`` here and no ``--amqp-url``; they are announced with one line."""
    on_rabbitmq = [b.name for b in backends if b.broker == "rabbitmq"]
    missing = None if amqp_url or not on_rabbitmq else rabbitmq_available()
    if missing is not None:
        say(f"skipped: {', '.join(on_rabbitmq)}: {missing}")
        backends = [b for b in backends if b.broker != "rabbitmq"]
        if not backends:
            raise UsageError("none of the chosen backends can run: no RabbitMQ")
    return backends


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; a user error prints one line and exits non-zero."""
    try:
        options = parse_args(sys.argv[1:] if argv is None else argv)
        options.backend_list = available_backends(options.backend_list, console.print)
        options.backend_list = with_rabbitmq(options.backend_list, options.amqp_url, console.print)
        if options.hosts == "netns" and (reason := hosts_unavailable_reason()):
            console.print(f"--hosts netns {reason}: running on one host", highlight=False)
            options.hosts = "one"
        return run(options)
    except BenchError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)  # one line, however long
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: every worker and broker process was stopped")
        return 130


def run(options: argparse.Namespace) -> int:
    """The whole pipeline: plan → services → sessions (results rewritten after each) → summary → report."""
    preset = options.preset_obj
    sessions = plan_sessions(
        options.backend_list, options.profiles, options.scenario_list, preset, options.seed, options.networks
    )
    # A profile declared the same configuration as another one of the run is measured once, as that one (the fault
    # profiles count: Huey's `bare` faults are its `shipped` faults).
    every_profile = list(dict.fromkeys([*options.profiles, *preset.fault_profiles]))
    skips = same_profile_skips(options.backend_list, every_profile)
    sessions = [s for s in sessions if (s.backend.name, s.profile) not in skips]
    environment = capture_environment(REPO_ROOT)
    rid = run_id(environment.get("git_commit"))
    out_dir: Path = options.out or REPO_ROOT / "results" / rid
    results_path = out_dir / "results.json"
    with run_context(
        preset,
        out_dir=out_dir,
        redis_url=options.redis_url,
        database=options.database,
        database_url=options.database_url,
        rabbitmq=any(b.broker == "rabbitmq" for b in options.backend_list),
        amqp_url=options.amqp_url,
        hosts=options.hosts == "netns",
        log_level=options.log_level,
        seed=options.seed,
        progress=lambda message: console.print(message, highlight=False, markup=False),
    ) as ctx:
        faults_run = set(options.scenario_list) & set(FAULT_SCENARIOS)
        described_profiles = list(dict.fromkeys([*options.profiles, *(preset.fault_profiles if faults_run else ())]))
        # Services first: an unreachable broker is a one-line error before anything is announced or written.
        console.print(
            f"run {rid}: {len(sessions)} sessions, preset {preset.name}, profiles {', '.join(options.profiles)}, "
            f"backends {', '.join(b.name for b in options.backend_list)}, database {_database_label(ctx)} "
            f"→ {results_path}",
            highlight=False,
        )
        if options.database_fallback:
            console.print(f"[yellow]no private PostgreSQL, measuring on SQLite:[/yellow] {options.database_fallback}")
        for (name, profile), measured_as in skips.items():
            console.print(f"{name}/{profile}: same configuration as {measured_as} (backend.toml), measured once")
        for backend in options.backend_list:
            for scenario in set(backend.not_run) & set(options.scenario_list):
                console.print(f"{backend.name}: {scenario} not run: {backend.not_run[scenario]} (backend.toml)")
        with RunProgress(
            sessions, preset, console=console, parallel_faults=isinstance(ctx.redis, RedisServer)
        ) as tracker:
            ctx.progress = tracker.note
            tracker.note("recording library versions and settings of every backend")
            environment = {
                **environment,
                "redis_version": ctx.redis.version(),
                **({"rabbitmq_version": ctx.rabbitmq.version()} if ctx.rabbitmq is not None else {}),
                "database": database_record(ctx, options.database_fallback),
            }
            results = RunResults(
                run={
                    "id": rid,
                    "preset": preset.name,
                    "preset_params": preset.as_dict(),
                    "profiles": options.profiles,
                    "scenarios": list(options.scenario_list),
                    "left_out": list(options.left_out),
                    "repetitions": preset.repetitions,
                    "seed": options.seed,
                    "argv": sys.argv,
                    "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "finished_at": None,
                    "redis": "external" if options.redis_url else "private",
                    **({"rabbitmq": "external" if options.amqp_url else "private"} if ctx.rabbitmq else {}),
                    "database": environment["database"]["engine"],
                    "networks": [n.name for n in options.networks],
                    "hosts": options.hosts,
                    "session_order": [s.label for s in sessions],
                },
                environment=environment,
                backends=backend_descriptions(options.backend_list, described_profiles, ctx),
            )
            write_results(results_path, results)
            lock = threading.Lock()

            def run_session(spec: SessionSpec, session_ctx: RunContext) -> None:
                """Run one session with its own progress reporter; its records are written at once."""
                nonlocal results
                tracker.session_started(spec)
                records = Session(spec, replace(session_ctx, progress=tracker.reporter(spec))).run()
                with lock:  # fault sessions finish from several threads
                    results = results.with_records(Record.from_dict(r) for r in records)
                    write_results(results_path, results)
                tracker.session_finished(spec, records)

            timed = [s for s in sessions if not is_fault_session(s)]
            prepare_side_by_side(timed, ctx, tracker.note)
            for spec in timed:
                run_session(spec, ctx)
            # DB statement counts and fault sessions measure no time of the performance kind (counts, outcomes,
            # second-scale gaps), so the counts run on the run's Redis beside the fault sessions, which have a Redis
            # each (with --redis-url, one shared broker: first the counts, then the faults).
            faults = [s for s in sessions if is_fault_session(s)]
            counted: list[dict[str, Any]] = []
            with ThreadPoolExecutor(max_workers=1) as beside:
                counting = None
                if "throughput" in options.scenario_list and "db_statements" not in options.left_out:
                    counting = beside.submit(
                        count_db_statements, options.backend_list, options.profiles, skips, ctx, tracker.note
                    )
                    if not isinstance(ctx.redis, RedisServer):
                        counted = counting.result()
                run_fault_sessions(faults, ctx, run_session)
                if counting is not None:
                    counted = counting.result()
            if counted:
                results = results.with_records(Record.from_dict(r) for r in counted)
                write_results(results_path, results)
        # What Django itself reported in each state directory (agent `prepare`), once every session has run.
        database_used = {
            **results.environment["database"],
            "django": dict(sorted(ctx.databases.items())),
            "floors": dict(sorted(ctx.floor_databases.items())),
        }
    results = RunResults(
        run={**results.run, "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
        environment=finish_environment({**results.environment, "database": database_used}),
        backends=results.backends,
        records=results.records,
    )
    write_results(results_path, results)
    from bench.report.context import main_part  # local: the report package loads matplotlib
    from bench.report.terminal import scorecard_table

    # Several networks: the summary and the scorecard show the report's main part (the first network).
    console.print(summary_table(main_part(results)))
    card = scorecard_table(results)
    if card is not None:
        console.print(card)
    failed = [r for r in results.records if r.status != "ok"]
    for r in failed:
        console.print(f"[yellow]failed[/yellow] {r.backend}/{r.profile} {r.scenario} {r.params}: {r.error}")
    console.print(f"results: {results_path}", highlight=False, soft_wrap=True)
    if not options.no_report:
        from bench.report import write_report

        md_path, html_path = write_report(results_path, out_dir)
        console.print(f"report: {md_path}\n        {html_path}", highlight=False, soft_wrap=True)
        if out_dir.resolve().parent == (REPO_ROOT / "results").resolve():
            from bench.report import index  # results/index.md and .html list every run of the folder

            index.write(out_dir.resolve().parent)
            console.print(f"index: {out_dir.resolve().parent / 'index.html'}", highlight=False, soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
