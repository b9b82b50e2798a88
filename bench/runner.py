"""The benchmark lifecycle: sessions of (backend, profile, worker processes, repetition), run in shuffled order.

Each session: flushed private Redis → real workers via the real command line → readiness probe → verification →
warm-up → the scenarios → workers stopped. Every number comes from the measurement channel (task side) or from the
producer's own clock, both ``CLOCK_MONOTONIC``; nothing is read through a queue library's result API.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import faults, stats
from bench.agent import run_agent
from bench.backends import Backend
from bench.channel_wait import ChannelWatcher
from bench.errors import BenchError
from bench.scenarios import FAULT_SCENARIOS, Preset, runs_on
from bench.services import (
    ExternalPostgres,
    ExternalRedis,
    ManagedProcess,
    PostgresServer,
    RedisServer,
    SmtpSink,
    database_service,
    redis_service,
    usage,
)
from bench.verify import verify_backend

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SessionSpec:
    """One unit of the run order: a backend with one profile and process count, one repetition."""

    backend: Backend
    profile: str
    processes: int
    repetition: int
    scenarios: tuple[str, ...]

    @property
    def label(self) -> str:
        """Short text for the progress display."""
        kind = "faults" if set(self.scenarios) & set(FAULT_SCENARIOS) else f"rep {self.repetition + 1}"
        return f"{self.backend.name}/{self.profile} p={self.processes} {kind}"


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
    verification: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: The run's PostgreSQL (private cluster or ``--database-url``); ``None``: SQLite, a file per state directory.
    database: PostgresServer | ExternalPostgres | None = None
    #: State directory name → the database Django itself reported using there (agent ``prepare``).
    databases: dict[str, Any] = field(default_factory=dict)

    def database_url(self, backend: Backend, name: str) -> str | None:
        """The URL of ``backend``'s database ``name`` (one per state directory, created on first use); ``None``
        for SQLite (a file in the state directory) and for the Redis floor (no Django, no database)."""
        if self.database is None or not backend.django:
            return None
        return self.database.database_url(re.sub(r"[^a-z0-9_]", "_", name.lower()))


def plan_sessions(
    backends: list[Backend], profiles: list[str], scenarios: tuple[str, ...], preset: Preset, seed: int
) -> list[SessionSpec]:
    """Every session of the run, shuffled with ``seed`` so that drift on the machine does not favour one backend.

    Only the throughput and resources scenarios run at every process count; the others run at the preset's default
    count (they measure the producer or a fixed offered load).
    """
    per_process_count = {"throughput", "resources"}
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
                        if (processes == preset.default_processes or s in per_process_count)
                        and runs_on(s, backend.tasks)
                    )
                    if chosen:
                        sessions.append(SessionSpec(backend, profile, processes, repetition, chosen))
    # Fault scenarios: once per backend, in the defaults profile and the at-least-once profile.
    for backend in backends:
        for profile in preset.fault_profiles:
            chosen = tuple(s for s in faults if runs_on(s, backend.tasks))
            if chosen:
                sessions.append(SessionSpec(backend, profile, preset.default_processes, 0, chosen))
    random.Random(seed).shuffle(sessions)
    return sessions


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ProducerClient:
    """The harness side of ``python -m bench.producer``: JSON lines over a pipe, one warm process per session."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.producer"],
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

    It is also the :class:`bench.faults.session.FaultSession` the retry and fault scenarios use (``producer``,
    ``watcher``, ``workers``, ``redis``, ``record``, ``prefix``, ``start_workers``/``stop_workers``).
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
        self.env = spec.backend.environment(
            redis_url=self.redis.url,
            var_dir=self.var_dir,
            smtp_port=ctx.smtp.port,
            channel_dir=self.channel_dir,
            profile=spec.profile,
            log_level=ctx.log_level,
            database_url=self.database_url,
            # The at-least-once profile shortens visibility/heartbeat timeouts (by configuration) so a fault run
            # sees redelivery within its observation window; the values are listed with the profile's settings.
            fast_faults=spec.profile == "safe",
        )
        self.env["BENCH_QUEUE_MODULE"] = spec.backend.queue_module
        self.watcher = ChannelWatcher(str(self.channel_dir))
        self.workers: ManagedProcess | None = None
        self.producer: ProducerClient | None = None
        self.records: list[dict[str, Any]] = []
        self._seq = 0

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

    def prefix(self, name: str) -> str:
        """A fresh probe prefix (unique in the session)."""
        return self._prefix(name)

    def record(self, scenario: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Append a record to the session's results and return it."""
        return self._record(scenario, params, **fields)

    def _prefix(self, name: str) -> str:
        self._seq += 1
        return f"{name}{self._seq}-"

    def _record(self, scenario: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
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
            "started_at": _now_iso(),
            "duration_s": None,
        }
        record.update(fields)
        self.records.append(record)
        return record

    def start_workers(self, *, probe: bool = True) -> None:
        """Start the backend's real worker command and wait until a noop round-trips through it.

        ``probe=False`` skips the round trip (the backlog scenario: a probe would queue behind the backlog).
        """
        self.workers = ManagedProcess(
            self.backend.worker_argv(self.spec.processes, self.spec.profile, self.ctx.log_level),
            env=self.env | self.backend.worker_env(self.spec.processes, self.ctx.log_level),
            cwd=self.backend.project_dir,
            log_path=self.dir / "worker.log",
            name=f"{self.backend.name} worker",
        )
        self.workers.start()
        if not probe:
            return
        prefix = self._prefix("ready")
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
        """Empty the queue between scenarios: flush Redis and, for a database-backed queue (``broker =
        "database"``), delete its rows through its queue module's ``purge()``."""
        self.redis.flushall()
        if self.backend.broker == "database" and self.producer is not None:
            self.producer.call("purge")

    def _log_tail(self) -> str:
        path = self.dir / "worker.log"
        try:
            lines = path.read_text(errors="replace").strip().splitlines()[-5:]
        except OSError:
            return "no worker log"
        return "worker log: " + " | ".join(lines)

    def _drain(self, probes: list[str], timeout_s: float | None = None) -> bool:
        assert self.workers is not None
        return self.watcher.wait_finished(
            probes, timeout_s=timeout_s or self.preset.drain_timeout_s, alive=self.workers.alive, settle_s=0.2
        )

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Run the session; a failure becomes a failed record, never an exception that loses the run."""
        started = time.monotonic()
        try:
            verification = self.verify()
            self.redis.flushall()
            self.prepare()
            self.producer = ProducerClient(self.env, REPO, self.dir / "producer.log")
            self.flush_broker()  # a database queue keeps what an earlier session left in it
            self.start_workers()
            if not verification["passed"]:
                self._record(
                    "verification",
                    {"processes": self.spec.processes},
                    status="failed",
                    error="; ".join(verification["failures"])[:500],
                )
                return self.records
            self.warm_up()
            self.stop_workers()
            for scenario in self.spec.scenarios:
                if scenario in ("resources",):
                    continue  # measured during the throughput scenario's drain
                self.ctx.progress(f"{self.spec.label}: {scenario}")
                try:
                    getattr(self, "scenario_" + scenario)()
                except (BenchError, OSError, subprocess.SubprocessError) as exc:
                    self._record(scenario, {"processes": self.spec.processes}, status="failed", error=str(exc)[:500])
                    self.stop_workers()
        except Exception as exc:  # a crash of one session must not lose the others
            self._record(
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
        for record in self.records:
            if record["duration_s"] is None:
                record["duration_s"] = round(time.monotonic() - started, 3)
        return self.records

    def prepare(self) -> None:
        """Migrate and seed the backend's database once per run (each backend/profile has its own)."""
        key = (self.backend.name, self.var_dir.name)
        if self.backend.django and key not in self.ctx.prepared:
            prepared = run_agent(self.backend, self.env, "prepare", {}, timeout=300)
            self.ctx.databases[self.var_dir.name] = prepared.get("database")
            self.ctx.prepared.add(key)

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
        """Run the preset's warm-up noops and wait for them; not recorded."""
        assert self.producer is not None
        prefix = self._prefix("warm")
        n = self.preset.warmup_tasks
        self.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
        self._drain([f"{prefix}{i}" for i in range(n)])

    # -- scenarios ------------------------------------------------------------------------------------------------
    def scenario_enqueue(self) -> None:
        """Producer cost per enqueue call, no workers running; the queue is flushed afterwards."""
        assert self.producer is not None
        for task in self.preset.enqueue_tasks:
            if task not in self.backend.tasks:
                continue
            t0 = time.monotonic()
            args = self.producer.call("sample_args", task=task, count=self.preset.enqueue_count)["args"]
            answer = self.producer.call("enqueue_latency", task=task, args=args, prefix=self._prefix("enq"))
            self._record(
                "enqueue",
                {"task": task},
                histograms={"latency_ns": answer["histogram"]},
                values={"count": answer["count"]},
                duration_s=round(time.monotonic() - t0, 3),
            )
            self.flush_broker()
        if self.preset.microbench and "noop" in self.backend.tasks:
            self._record("enqueue_microbench", {"task": "noop"}, **self.microbench())
            self.flush_broker()

    def microbench(self) -> dict[str, Any]:
        """pytest-benchmark of the noop enqueue call; its JSON is kept beside the results."""
        out = (
            self.ctx.out_dir
            / "pytest-benchmark"
            / f"{self.backend.name}-{self.spec.profile}-r{self.spec.repetition}.json"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pytest", str(REPO / "bench" / "microbench.py"), "-q", "-p", "no:django",
            "-p", "no:cacheprovider", f"--benchmark-json={out}", "--benchmark-min-rounds=200",
            "--benchmark-max-time=2", "--benchmark-disable-gc",
        ]  # fmt: skip
        done = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            return {"status": "failed", "error": "pytest-benchmark failed: " + " | ".join(tail)}
        data = json.loads(out.read_text())
        bench_stats = data["benchmarks"][0]["stats"]
        return {
            "values": {f"{k}_s": bench_stats[k] for k in ("min", "median", "mean", "stddev")}
            | {"rounds": bench_stats["rounds"]},
            "samples": {"json": [str(out.relative_to(self.ctx.out_dir))]},
        }

    def scenario_throughput(self) -> None:
        """Backlog drained from a full queue (resources measured meanwhile), then each task produced concurrently."""
        assert self.producer is not None
        self.stop_workers()  # the backlog is filled with no consumer running
        n = self.preset.backlog_tasks
        prefix = self._prefix("backlog")
        probes = [f"{prefix}{i}" for i in range(n)]
        self.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
        self.start_workers(probe=False)
        assert self.workers is not None
        cpu0 = usage(self.workers.tree()).cpu_seconds
        peak_rss = peak_pss = 0
        deadline = time.monotonic() + self.preset.drain_timeout_s
        while time.monotonic() < deadline and self.workers.alive():
            log = self.watcher.poll()
            done = log.finished(probes)
            now = usage(self.workers.tree())
            peak_rss, peak_pss = max(peak_rss, now.rss_bytes), max(peak_pss, now.pss_bytes)
            self.ctx.progress(f"{self.spec.label}: backlog {done}/{n}")
            if done == n:
                break
            time.sleep(0.2)
        cpu1 = usage(self.workers.tree()).cpu_seconds
        self._throughput_record(probes, {"task": "noop", "processes": self.spec.processes, "mode": "backlog"})
        time.sleep(1.0)  # let the workers go idle before the idle memory reading
        idle = usage(self.workers.tree())
        done = self.watcher.log.finished(probes)
        if "resources" in self.spec.scenarios:
            self._record(
                "resources",
                {"processes": self.spec.processes},
                values={
                    "rss_idle_bytes": idle.rss_bytes,
                    "pss_idle_bytes": idle.pss_bytes,
                    "rss_load_bytes": peak_rss,
                    "pss_load_bytes": peak_pss,
                    "cpu_s_per_1000": (cpu1 - cpu0) * 1000 / done if done else None,
                    "tasks": done,
                },
            )
        for task, count in self.preset.concurrent_tasks.items():
            if task not in self.backend.tasks:
                continue
            args = self.producer.call(
                "prepare_args", task=task, count=count, import_rows=self.preset.import_rows, seed=self._seq
            )["args"]
            prefix = self._prefix(f"tp-{task}-")
            probes = [f"{prefix}{i}" for i in range(count)]
            self.producer.call("produce", task=task, args=args, prefix=prefix)
            self._drain(probes)
            self._throughput_record(probes, {"task": task, "processes": self.spec.processes, "mode": "concurrent"})

    def _throughput_record(self, probes: list[str], params: dict[str, Any]) -> None:
        log = self.watcher.log
        starts = [min(log.starts[p]) for p in probes if log.starts.get(p)]
        finishes = [min(log.finishes[p]) for p in probes if log.finishes.get(p)]
        completed = len(finishes)
        record = self._record(
            "throughput",
            params,
            values={
                "tasks": len(probes),
                "completed": completed,
                "lost": len(probes) - completed,
                "failed_attempts": sum(len(log.errors.get(p, ())) for p in probes),
                "duplicates": sum(1 for p in probes if len(log.starts.get(p, ())) > 1),
                "seconds": (max(finishes) - min(starts)) / 1e9 if finishes and starts else None,
                "tasks_per_s": stats.throughput(starts, finishes),
                "steady_tasks_per_s": stats.steady_state_throughput(finishes),
            },
        )
        if completed < len(probes):
            record["status"] = "failed"
            record["error"] = f"{len(probes) - completed} of {len(probes)} tasks did not finish in time"

    def scenario_latency(self) -> None:
        """Open-loop noop producer at each offered rate; stops going higher once a rate is clearly beyond saturation."""
        assert self.producer is not None
        self.ensure_workers()
        bound_ns = self.preset.latency_bound_ms * 1e6
        for rate in self.preset.latency_rates:
            prefix = self._prefix(f"lat{rate}-")
            answer = self.producer.call(
                "open_loop", task="noop", rate=rate, duration_s=self.preset.latency_duration_s, prefix=prefix
            )
            intended = answer["intended_ns"]
            probes = [f"{prefix}{i}" for i in range(len(intended))]
            self._drain(probes)
            log = self.watcher.log
            to_start = stats.new_histogram()
            to_finish = stats.new_histogram()
            lost = 0
            for probe, due in zip(probes, intended, strict=True):
                if not log.finishes.get(probe):
                    lost += 1
                    continue
                stats.record(to_start, [min(log.starts[probe]) - due])
                stats.record(to_finish, [min(log.finishes[probe]) - due])
            record = self._record(
                "latency",
                {"task": "noop", "processes": self.spec.processes, "rate": rate},
                histograms={"to_start_ns": stats.encode(to_start), "to_finish_ns": stats.encode(to_finish)},
                values={
                    "offered_rate": rate,
                    "achieved_rate": answer["achieved_rate"],
                    "sent": len(intended),
                    "completed": len(intended) - lost,
                    "lost": lost,
                    "max_send_lag_ns": answer["max_send_lag_ns"],
                },
            )
            if lost:
                record["status"] = "failed"
                record["error"] = f"{lost} of {len(intended)} tasks did not finish within the drain timeout"
            p99 = to_start.get_value_at_percentile(99) if to_start.get_total_count() else float("inf")
            if lost or p99 > 20 * bound_ns:
                break  # far beyond saturation: higher rates only take longer to drain and say nothing new

    def scenario_idle_pickup(self) -> None:
        """A single noop after the workers have been idle for each of the preset's idle periods."""
        assert self.producer is not None
        self.ensure_workers()
        for idle_s in self.preset.idle_pickup_s:
            time.sleep(idle_s)
            prefix = self._prefix("idle")
            sent = self.producer.call("single", task="noop", prefix=prefix)["sent_ns"]
            probe = f"{prefix}0"
            ok = self._drain([probe], timeout_s=60)
            log = self.watcher.log
            self._record(
                "idle_pickup",
                {"processes": self.spec.processes, "idle_s": idle_s},
                samples={"pickup_ns": [min(log.starts[probe]) - sent] if ok else []},
                status="ok" if ok else "failed",
                error=None if ok else "the task did not run within 60 s",
            )

    def scenario_retries(self) -> None:
        """Flaky tasks with the shop's retry policy and with library defaults (bench/faults/retries.py)."""
        faults.run_retries(self)

    def scenario_faults(self) -> None:
        """Worker and Redis faults on a proven mixed workload (bench/faults/kinds.py)."""
        faults.run_faults(self)

    def scenario_channel_overhead(self) -> None:
        """The channel's own cost per event, in a process with the backend's environment."""
        assert self.producer is not None
        answer = self.producer.call("channel_overhead", events=20_000)
        p = stats.percentiles(answer["histogram"])
        self._record(
            "channel_overhead",
            {},
            histograms={"write_ns": answer["histogram"]},
            values={"count": answer["count"], "write_ns_p50": p.p50, "write_ns_p99": p.p99},
        )


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
) -> Iterator[RunContext]:
    """Private Redis, SMTP sink, database (``database``: ``sqlite`` or ``postgres``, a private cluster unless
    ``database_url`` is given) and a scratch directory for one run; all stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    try:
        with contextlib.ExitStack() as stack:
            # The database first: an unreachable --database-url is a one-line error before anything else starts.
            db = database_service(database, database_url)
            if db is not None:
                stack.enter_context(db)
            if redis_url:
                redis = stack.enter_context(redis_service(redis_url))
            else:
                redis = stack.enter_context(RedisServer(data_dir=workdir / "redis", appendonly=appendonly))
            smtp = stack.enter_context(SmtpSink(workdir / "maildir"))
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
            )
    finally:
        if os.environ.get("BENCH_KEEP_WORKDIR"):
            progress(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
