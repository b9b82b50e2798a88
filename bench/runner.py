"""The benchmark lifecycle: sessions of (backend, profile, worker processes, repetition), run in shuffled order.

Each session: flushed private Redis → real workers via the real command line → readiness probe → verification →
warm-up → the scenarios → workers stopped. Every number comes from the measurement channel (task side) or from the
producer's own clock, both ``CLOCK_MONOTONIC``; nothing is read through a queue library's result API.

The scenarios themselves live in ``bench/scenarios/<name>.py`` (listed in :data:`bench.scenarios.REGISTRY`); a
:class:`Session` is the :class:`~bench.scenarios.session.ScenarioSession` they run against.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import completion
from bench.agent import run_agent
from bench.backends import Backend
from bench.channel_wait import ChannelWatcher
from bench.errors import BenchError
from bench.network import LOOPBACK, Network, rtt_premise
from bench.scenarios import FAULT_SCENARIOS, PER_PROCESS_COUNT, PROXIED_ONLY, REGISTRY, Preset, runs_on
from bench.scenarios.session import RateKey
from bench.services import (
    ExternalPostgres,
    ExternalRabbitMQ,
    ExternalRedis,
    ManagedProcess,
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    SmtpSink,
    database_service,
    rabbitmq_service,
    redis_service,
)
from bench.services.hosts import APP_HOST_ENV, NetnsHosts, on_app_host
from bench.services.proxy import ProxiedPath
from bench.verify import verify_backend

REPO = Path(__file__).resolve().parent.parent

#: How long the warm-up waits for a backend's first ``C`` events after their ``F`` before it counts done by ``F``.
CONFIRM_WAIT_S = 10.0


@dataclass(frozen=True)
class SessionSpec:
    """One unit of the run order: a backend with one profile and process count, one repetition."""

    backend: Backend
    profile: str
    processes: int
    repetition: int
    scenarios: tuple[str, ...]
    #: How producer, workers and floors reach Redis, PostgreSQL, RabbitMQ and SMTP (direct, or through the delay proxy).
    network: Network = LOOPBACK

    @property
    def label(self) -> str:
        """Short text for the progress display."""
        kind = "faults" if set(self.scenarios) & set(FAULT_SCENARIOS) else f"rep {self.repetition + 1}"
        where = f" @{self.network.name}" if self.network != LOOPBACK else ""
        return f"{self.backend.name}/{self.profile} p={self.processes} {kind}{where}"


@dataclass
class RunContext:
    """What every session of a run shares: services, per-backend state directories, the output."""

    preset: Preset
    redis: RedisServer | ExternalRedis
    smtp: SmtpSink
    workdir: Path
    out_dir: Path
    log_level: str = "WARNING"
    seed: int = 0
    progress: Callable[[str], None] = lambda _msg: None
    prepared: set[tuple[str, str]] = field(default_factory=set)
    #: Measured rates (tasks/s) by (backend, profile, task, mode, processes, network): they size later throughput
    #: windows.
    rates: dict[RateKey, float] = field(default_factory=dict)
    verification: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: The run's PostgreSQL (private cluster or ``--database-url``); ``None``: SQLite, a file per state directory.
    database: PostgresServer | ExternalPostgres | None = None
    #: State directory name → the database Django itself reported using there (agent ``prepare``).
    databases: dict[str, Any] = field(default_factory=dict)
    #: The engine each database floor's state directory ran on (it has no Django to report it).
    floor_databases: dict[str, Any] = field(default_factory=dict)
    #: The run's RabbitMQ (private node or ``--amqp-url``), when a backend of the run has ``broker = "rabbitmq"``.
    rabbitmq: RabbitMQServer | ExternalRabbitMQ | None = None
    #: ``--hosts netns``: app, workers and broker on hosts of their own (``None``: one host, the loopback).
    hosts: NetnsHosts | None = None

    @property
    def amqp_url(self) -> str | None:
        """``SHOP_AMQP_URL`` of every process of the run (``None``: no RabbitMQ in this run)."""
        return self.rabbitmq.url if self.rabbitmq is not None else None

    def database_url(self, backend: Backend, name: str) -> str | None:
        """The URL of ``backend``'s database ``name`` (one per state directory, created on first use); ``None``
        for SQLite (a file in the state directory) and for a backend that uses no database (the Redis and AMQP
        floors: no Django, another broker). The database floor has no Django but its queue is the database: it must
        run on the same engine as the backends it is the floor of."""
        if self.database is None or not (backend.django or backend.broker == "database"):
            return None
        return self.database.database_url(re.sub(r"[^a-z0-9_]", "_", name.lower()))


def plan_sessions(
    backends: list[Backend],
    profiles: list[str],
    scenarios: tuple[str, ...],
    preset: Preset,
    seed: int,
    networks: tuple[Network, ...] = (LOOPBACK,),
) -> list[SessionSpec]:
    """Every session of the run, shuffled with ``seed`` so that drift on the machine does not favour one backend.

    Only the scenarios marked ``per_process_count`` (throughput, resources) run at every process count; the others
    run at the preset's default count (they measure the producer or a fixed offered load). Every session is planned
    once per network; a scenario that only means something through the proxy (``proxied_only``) is left out of a
    direct one.
    """
    sessions = [
        replace(spec, network=network, scenarios=chosen)
        for network in networks
        for spec in _plan_one_network(backends, profiles, scenarios, preset)
        if (chosen := tuple(s for s in spec.scenarios if network.proxied or s not in PROXIED_ONLY))
    ]
    random.Random(seed).shuffle(sessions)
    return sessions


def _plan_one_network(
    backends: list[Backend], profiles: list[str], scenarios: tuple[str, ...], preset: Preset
) -> list[SessionSpec]:
    performance = tuple(s for s in scenarios if s not in FAULT_SCENARIOS)
    faults = tuple(s for s in scenarios if s in FAULT_SCENARIOS)
    sessions: list[SessionSpec] = []
    for repetition in range(preset.repetitions):
        for backend in backends:
            for profile in profiles:
                for processes in preset.processes:
                    chosen = tuple(
                        s
                        for s in performance
                        if (processes == preset.default_processes or s in PER_PROCESS_COUNT)
                        and runs_on(s, backend.tasks)
                        and s not in backend.not_run
                    )
                    if chosen:
                        sessions.append(SessionSpec(backend, profile, processes, repetition, chosen))
    # Fault scenarios: once per backend, in the defaults profile and the at-least-once profile.
    for backend in backends:
        for profile in preset.fault_profiles:
            chosen = tuple(s for s in faults if runs_on(s, backend.tasks) and s not in backend.not_run)
            if chosen:
                sessions.append(SessionSpec(backend, profile, preset.default_processes, 0, chosen))
    return sessions


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ProducerClient:
    """The harness side of ``python -m bench.producer``: JSON lines over a pipe, one warm process per session."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            on_app_host(env, [sys.executable, "-m", "bench.producer"]),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,
        )
        ready = self._read()
        if not ready.get("ready"):
            raise BenchError(f"producer did not start: {ready}")

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise BenchError(f"producer exited with status {self.proc.returncode}; see {self._log.name}")
        return json.loads(line)

    def call(self, cmd: str, **kwargs: Any) -> dict[str, Any]:
        """Run one producer command; a producer-side exception becomes a ``BenchError``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kwargs}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise BenchError(f"producer command {cmd} failed: {answer['error']}")
        return answer

    def close(self) -> None:
        """Stop the producer (closing stdin ends its loop); kill it if it does not go."""
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class Session:
    """Runs one :class:`SessionSpec` and returns its records.

    It is also the :class:`bench.scenarios.session.ScenarioSession` every scenario runs against (``producer``,
    ``watcher``, ``workers``, ``redis``, ``record``, ``prefix``, ``start_workers``/``stop_workers``, ``drain``, …),
    which includes the :class:`bench.faults.session.FaultSession` of the retry and fault scenarios.
    """

    def __init__(self, spec: SessionSpec, ctx: RunContext, *, redis: RedisServer | ExternalRedis | None = None) -> None:
        self.spec = spec
        self.ctx = ctx
        #: The broker of this session: the run's, or a dedicated one (fault scenarios restart it).
        self.redis = redis or ctx.redis
        # Fault sessions get their own database: django-q2 keeps delayed tasks there, which must not leak into
        # a later session.
        kind = "faults" if set(spec.scenarios) & set(FAULT_SCENARIOS) else "perf"
        self.var_dir = ctx.workdir / f"var-{spec.backend.name}-{spec.profile}-{kind}"
        # With PostgreSQL, likewise a database per (backend, profile, kind).
        self.database_url = ctx.database_url(spec.backend, f"{spec.backend.name}_{spec.profile}_{kind}")
        self.backend = spec.backend
        self.preset = ctx.preset
        self.dir = Path(tempfile.mkdtemp(prefix=f"{spec.backend.name}-p{spec.processes}-", dir=ctx.workdir))
        self.channel_dir = self.dir / "channel"
        self.channel_dir.mkdir()
        #: The RabbitMQ node of a backend on RabbitMQ (``None`` for every other: no AMQP route to proxy).
        self.rabbitmq = ctx.rabbitmq if spec.backend.broker == "rabbitmq" else None
        self.amqp_url = self.rabbitmq.url if self.rabbitmq is not None else None
        #: The delay proxy the session's clients go through (``None``: a direct network); started by :meth:`run`.
        self.path: ProxiedPath | None = None
        self.env = self._environment(self.redis.url, ctx.smtp.port, self.database_url, self.amqp_url)
        #: Every record's ``network``: the nominal round trips, and what the session measured through the proxy.
        self.network = spec.network.as_dict()
        self.premise_problems: list[str] = []
        self.watcher = ChannelWatcher(str(self.channel_dir))
        self.workers: ManagedProcess | None = None
        self.producer: ProducerClient | None = None
        self.records: list[dict[str, Any]] = []
        self._seq = 0
        #: How this session counts a task done (``confirmed``: its C event; ``body``: its F), settled at warm-up.
        self.completion: str | None = None
        #: Tasks/s of the warm-up: the first estimate that sizes a throughput window.
        self.warm_rate: float | None = None
        #: Tasks/s the producer enqueued the warm-up at: a warm-up rate close to it was the producer's, not the
        #: workers' (bench.scenarios.throughput.warm_rate_is_lower_bound).
        self.warm_enqueue_rate: float | None = None

    def _environment(
        self,
        redis_url: str,
        smtp_port: int,
        database_url: str | None,
        amqp_url: str | None,
        smtp_host: str | None = None,
    ) -> dict[str, str]:
        env = self.backend.environment(
            redis_url=redis_url,
            amqp_url=amqp_url,
            var_dir=self.var_dir,
            smtp_port=smtp_port,
            smtp_host=smtp_host,
            channel_dir=self.channel_dir,
            profile=self.spec.profile,
            log_level=self.ctx.log_level,
            database_url=database_url,
            # The at-least-once profile shortens visibility/heartbeat timeouts (by configuration) so a fault run
            # sees redelivery within its observation window; the values are listed with the profile's settings.
            fast_faults=self.spec.profile == "safe",
        )
        env["BENCH_QUEUE_MODULE"] = self.backend.queue_module
        hosts = self.ctx.hosts if self.path is not None else None
        if isinstance(self.rabbitmq, RabbitMQServer):
            # The node's own counts of unacknowledged messages and its consumer_timeout, for the queue module's
            # locate (projects/shop/amqpinspect.py): rabbitmqctl reaches the private node directly, never proxied
            # (from another host: back in the harness's namespace, where the node is).
            ctl = self.rabbitmq.ctl_spec()
            if hosts is not None:
                ctl = {**ctl, "argv": hosts.root_argv(ctl["argv"])}
            env["SHOP_RABBITMQCTL"] = json.dumps(ctl)
        if hosts is not None:
            # The producer, the agent commands and pytest-benchmark are the app's side: they run on the app host.
            env[APP_HOST_ENV] = json.dumps(hosts.argv("app", []))
        return env

    def connect_network(self) -> None:
        """On a proxied network: start the delay proxy, route every client of the session through it, and measure
        the round trip it really adds (a raw PING / ``SELECT 1`` loop, through it and direct); a measured RTT off
        the nominal one by more than :data:`bench.network.RTT_TOLERANCE` fails the session's premise."""
        network = self.spec.network
        hosts = self.ctx.hosts
        if not network.proxied and hosts is None:
            return
        # On separate hosts the proxy is the way across (at loopback with no delay: its own cost, the floors' too).
        self.path = ProxiedPath(
            redis_url=self.redis.url,
            smtp_port=self.ctx.smtp.port,
            database_url=self.database_url,
            amqp_url=self.amqp_url,
            rtt_ms=network.rtt_ms,
            smtp_rtt_ms=network.smtp_rtt_ms,
            log_path=self.dir / "proxy.log",
            hosts=hosts,
        ).start()
        if hosts is not None:
            # Through the proxy at the nominal delay (0 at loopback: its own cost and the link's, which the floors
            # pay alike), never direct.
            self.network["proxied"] = True
            self.network["hosts"] = hosts.as_dict()
        self.env = self._environment(
            self.path.redis_url(self.redis.url),
            self.path.smtp_port,
            self.path.database_url(self.database_url),
            self.path.amqp_url(self.amqp_url),
            self.path.smtp_host,
        )
        measured = self.path.measure()
        self.network["measured"] = measured
        self.premise_problems = rtt_premise(network, measured)

    def _apply_premise(self) -> None:
        """A session whose network was not the one asked for is never ranked: its ok records become
        ``premise_not_met``, with the problems in ``notes["premise"]``."""
        if not self.premise_problems:
            return
        for record in self.records:
            if record["status"] == "ok":
                record["status"] = "premise_not_met"
                record["error"] = ("premise not met: " + "; ".join(self.premise_problems))[:500]
                premise = {"met": False, "problems": self.premise_problems}
                record["notes"] = {**record.get("notes", {}), "premise": premise}

    # -- helpers ------------------------------------------------------------------------------------------------
    @property
    def processes(self) -> int:
        """Worker processes of this session."""
        return self.spec.processes

    @property
    def has_database(self) -> bool:
        """Whether the backend runs the Django shop (with its database): the Redis floor does not."""
        return self.backend.django

    @property
    def profile(self) -> str:
        """The settings profile of this session."""
        return self.spec.profile

    @property
    def label(self) -> str:
        """Short text naming the session in progress messages."""
        return self.spec.label

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The scenarios this session runs."""
        return self.spec.scenarios

    @property
    def repetition(self) -> int:
        """Which repetition of the run this session is (0-based)."""
        return self.spec.repetition

    @property
    def out_dir(self) -> Path:
        """The run's output directory."""
        return self.ctx.out_dir

    @property
    def rates(self) -> dict[RateKey, float]:
        """Rates measured earlier in the run (shared by every session): they size later throughput windows."""
        return self.ctx.rates

    @property
    def seq(self) -> int:
        """How many probe prefixes this session has handed out."""
        return self._seq

    def progress(self, message: str) -> None:
        """Show what the session is doing (the run's progress display)."""
        self.ctx.progress(message)

    def prefix(self, name: str) -> str:
        """A fresh probe prefix (unique in the session)."""
        self._seq += 1
        return f"{name}{self._seq}-"

    def record(self, scenario: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Append a record to the session's results and return it."""
        record = {
            "backend": self.backend.name,
            "profile": self.spec.profile,
            "scenario": scenario,
            "params": params,
            "repetition": self.spec.repetition,
            "status": "ok",
            "error": None,
            "histograms": {},
            "values": {},
            "samples": {},
            "network": self.network,
            "started_at": _now_iso(),
            "duration_s": None,
        }
        record.update(fields)
        self.records.append(record)
        return record

    def drop(self, record: dict[str, Any]) -> None:
        """Remove a record again (a throughput window superseded by a bigger one)."""
        self.records = [r for r in self.records if r is not record]

    def start_workers(self, *, probe: bool = True) -> None:
        """Start the backend's real worker command and wait until a noop round-trips through it.

        ``probe=False`` skips the round trip (the backlog scenario: a probe would queue behind the backlog).
        """
        argv = self.backend.worker_argv(self.spec.processes, self.spec.profile, self.ctx.log_level)
        if self.path is not None and self.ctx.hosts is not None:
            argv = self.ctx.hosts.argv("workers", argv)
        self.workers = ManagedProcess(
            argv,
            env=self.env | self.backend.worker_env(self.spec.processes, self.ctx.log_level),
            cwd=self.backend.project_dir,
            log_path=self.dir / "worker.log",
            name=f"{self.backend.name} worker",
        )
        self.workers.start()
        if not probe:
            return
        prefix = self.prefix("ready")
        assert self.producer is not None
        self.producer.call("produce", task="noop", args=[[]], prefix=prefix)
        if not self.watcher.wait_finished([f"{prefix}0"], timeout_s=90, alive=self.workers.alive):
            raise BenchError(f"{self.backend.name} workers did not complete a noop within 90 s; {self._log_tail()}")

    def ensure_workers(self) -> None:
        """Workers running (started and probed if they are not): scenarios that need them share one start."""
        if self.workers is None or not self.workers.alive():
            self.stop_workers()
            self.start_workers()

    def stop_workers(self) -> None:
        """Graceful stop (the command's own shutdown), then anything left of the tree is killed."""
        if self.workers is not None:
            self.workers.stop(timeout=30)
            self.workers = None

    def flush_broker(self) -> None:
        """Empty the queue between scenarios: flush Redis and, for a queue elsewhere (``broker = "database"`` rows,
        ``"rabbitmq"`` queues), delete what it holds through its queue module's ``purge()``."""
        self.redis.flushall()
        if self.backend.broker != "redis" and self.producer is not None:
            self.producer.call("purge")

    def _log_tail(self) -> str:
        path = self.dir / "worker.log"
        try:
            lines = path.read_text(errors="replace").strip().splitlines()[-5:]
        except OSError:
            return "no worker log"
        return "worker log: " + " | ".join(lines)

    def drain(self, probes: list[str], timeout_s: float | None = None) -> bool:
        """Wait until every probe is done, as the session counts done (:attr:`completion`)."""
        assert self.workers is not None
        return self.watcher.wait_for(
            probes,
            (completion.KIND_FIELD[self.completion or completion.BODY],),
            timeout_s=timeout_s or self.preset.drain_timeout_s,
            alive=self.workers.alive,
            settle_s=0.2,
        )

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Run the session; a failure becomes a failed record, never an exception that loses the run."""
        started = time.monotonic()
        try:
            verification = self.verify()
            self.redis.flushall()
            self.connect_network()
            self.prepare()
            self.producer = ProducerClient(self.env, REPO, self.dir / "producer.log")
            self.flush_broker()  # a database queue keeps what an earlier session left in it
            self.start_workers()
            if not verification["passed"]:
                self.record(
                    "verification",
                    {"processes": self.spec.processes},
                    status="failed",
                    error="; ".join(verification["failures"])[:500],
                )
                return self.records
            self.warm_up()
            self.stop_workers()
            for scenario in self.spec.scenarios:
                run = REGISTRY[scenario].run
                if run is None:
                    continue  # recorded by another scenario (resources: during the throughput drain)
                self.ctx.progress(f"{self.spec.label}: {scenario}")
                try:
                    run(self)
                except (BenchError, OSError, subprocess.SubprocessError) as exc:
                    self.record(scenario, {"processes": self.spec.processes}, status="failed", error=str(exc)[:500])
                    self.stop_workers()
        except Exception as exc:  # a crash of one session must not lose the others
            self.record(
                "session",
                {"processes": self.spec.processes},
                status="failed",
                error=f"{type(exc).__name__}: {exc}"[:500],
                samples={"traceback": traceback.format_exc().splitlines()[-8:]},
            )
        finally:
            self.stop_workers()
            if self.producer is not None:
                self.producer.close()
            if self.path is not None:
                self.path.stop()
        self._apply_premise()
        for record in self.records:
            if record["duration_s"] is None:
                record["duration_s"] = round(time.monotonic() - started, 3)
        return self.records

    def prepare_ahead(self) -> None:
        """What :meth:`run` does before its first measurement and no measurement depends on: verification and the
        database's migrations (cached in the run context, so the session itself only reads them)."""
        try:
            self.verify()
            self.prepare()
        except Exception:  # the session runs both again and records the failure where it belongs
            pass

    def prepare(self) -> None:
        """Migrate and seed the backend's database once per run (each backend/profile has its own)."""
        key = (self.backend.name, self.var_dir.name)
        if self.backend.django and key not in self.ctx.prepared:
            prepared = run_agent(self.backend, self.env, "prepare", {}, timeout=300)
            self.ctx.databases[self.var_dir.name] = prepared.get("database")
            self.ctx.prepared.add(key)
        elif self.backend.broker == "database" and not self.backend.django:
            # The database floor has no Django to report its engine: the URL it was given says it.
            engine = "postgresql" if self.database_url else "sqlite"
            self.ctx.floor_databases[self.var_dir.name] = {"engine": engine}

    def verify(self) -> dict[str, Any]:
        """Verification before measurement: the real shop work on this backend's real workers.

        Once per backend, profile and repetition (a failed one is retried by the next session). It starts and stops
        its own workers on its own database, so nothing it does is counted in a measurement.
        """
        if not self.backend.django:
            # The Redis floor has no shop tasks; its readiness probe (a noop round trip) is its whole check.
            return {"passed": True, "failures": [], "checks": 0}
        key = (self.backend.name, self.spec.profile, self.spec.repetition)
        cached = self.ctx.verification.get(key)
        if cached is not None and cached["passed"]:
            return cached
        report = verify_backend(
            self.backend,
            redis=self.redis,
            smtp=self.ctx.smtp,
            workdir=self.ctx.workdir / "verification",
            processes=self.spec.processes,
            profile=self.spec.profile,
            log_level=self.ctx.log_level,
            database_url=self.ctx.database_url(self.backend, f"{self.backend.name}_verify"),
            amqp_url=self.ctx.amqp_url,
        )
        result = {
            "passed": report.passed,
            "failures": [f"{c.name}: {c.detail}" for c in report.failures()],
            "checks": len(report.checks),
            "seconds": round(report.seconds, 2),
            "report_digests": report.report_digests(),
        }
        self.ctx.verification[key] = result
        return result

    def warm_up(self) -> None:
        """Run the preset's warm-up noops and wait for them; not recorded.

        It also settles how this session counts a task done: by the backend's own ``C`` event when the backend
        writes one (every warm-up noop waits up to :data:`CONFIRM_WAIT_S` for it after its ``F``), else by ``F``.
        Its rate (tasks done over the time since the first start) is the first estimate that sizes a throughput
        window, kept with the rate the producer enqueued the warm-up at (``warm_enqueue_rate``).
        """
        assert self.producer is not None and self.workers is not None
        prefix = self.prefix("warm")
        n = max(1, self.preset.warmup_tasks)
        probes = [f"{prefix}{i}" for i in range(n)]
        produced = self.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
        self.watcher.wait_finished(
            probes, timeout_s=self.preset.drain_timeout_s, alive=self.workers.alive, settle_s=0.2
        )
        if self.completion is None:
            confirmed = self.watcher.wait_for(probes, ("confirms",), timeout_s=CONFIRM_WAIT_S, alive=self.workers.alive)
            seen = any(self.watcher.log.confirms.get(p) for p in probes)
            self.completion = completion.CONFIRMED if seen else completion.BODY
            if seen and not confirmed:
                self.drain(probes)
        else:
            self.drain(probes)
        log = self.watcher.log
        done = completion.done_times(log, probes, self.completion)
        starts = completion.first_times(log.starts, probes)
        if len(done) > 1 and starts and done[-1] > starts[0]:
            self.warm_rate = len(done) * 1e9 / (done[-1] - starts[0])
            fill_ns = produced["last_ns"] - produced["first_ns"]
            self.warm_enqueue_rate = n * 1e9 / fill_ns if fill_ns > 0 else None


@contextlib.contextmanager
def run_context(
    preset: Preset,
    *,
    out_dir: Path,
    redis_url: str | None,
    log_level: str,
    seed: int,
    progress: Callable[[str], None],
    appendonly: bool = False,
    database: str = "sqlite",
    database_url: str | None = None,
    rabbitmq: bool = False,
    amqp_url: str | None = None,
    hosts: bool = False,
) -> Iterator[RunContext]:
    """Private Redis, SMTP sink, database (``database``: ``sqlite`` or ``postgres``, a private cluster unless
    ``database_url`` is given), with ``rabbitmq`` a RabbitMQ node (private unless ``amqp_url`` is given), with
    ``hosts`` the app, workers and broker hosts (``--hosts netns``), and a scratch directory for one run; all
    stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            # The user's own services first: an unreachable URL is a one-line error before anything private starts
            # (a first private PostgreSQL also creates its system account, and says so).
            redis = stack.enter_context(redis_service(redis_url)) if redis_url else None
            node = stack.enter_context(rabbitmq_service(amqp_url)) if rabbitmq and amqp_url else None
            db = database_service(database, database_url)
            if db is not None:
                stack.enter_context(db)
            if redis is None:
                redis = stack.enter_context(RedisServer(data_dir=workdir / "redis", appendonly=appendonly))
            smtp = stack.enter_context(SmtpSink(workdir / "maildir"))
            if rabbitmq and node is None:
                node = stack.enter_context(rabbitmq_service(None))
            separate = stack.enter_context(NetnsHosts(workdir / "hosts")) if hosts else None
            yield RunContext(
                preset=preset,
                redis=redis,
                smtp=smtp,
                workdir=workdir,
                out_dir=out_dir,
                log_level=log_level,
                seed=seed,
                progress=progress,
                database=db,
                rabbitmq=node,
                hosts=separate,
            )
    finally:
        if os.environ.get("BENCH_KEEP_WORKDIR"):
            progress(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
