"""The benchmark lifecycle: sessions of (backend, profile, worker processes, repetition), run in shuffled order.

Each session: flushed private Redis → real workers via the real command line → readiness probe → verification →
warm-up → the scenarios → workers stopped. Every number comes from the measurement channel (task side) or from the
producer's own clock, both ``CLOCK_MONOTONIC``; nothing is read through a queue library's result API.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import completion, faults, stats
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

#: How long the warm-up waits for a backend's first ``C`` events after their ``F`` before it counts done by ``F``.
CONFIRM_WAIT_S = 10.0
#: A throughput window is sized to last warm-up + steady window x this, so that a low estimate still fills it (the
#: warm-up's rate of a fast backend is the producer's, ~20 % below its drain rate); a retry (the window came out
#: short) uses the larger one.
WINDOW_MARGIN = 1.5
WINDOW_MARGIN_RETRY = 2.0
#: Windows measured at most per figure (each retry at least doubles the tasks); only the last is recorded.
MAX_ATTEMPTS = 3
#: Fewest tasks of a throughput window, and the rate assumed when nothing measured one yet (tasks/s).
MIN_WINDOW_TASKS = 20
DEFAULT_RATE = 50.0
#: How often the backlog drain checks whether the channel grew (resources are sampled on their own, finer grid).
DRAIN_POLL_S = 0.5
#: Idle memory readings after a drain (one every ``resource_interval_s``).
IDLE_SAMPLES = 5


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
    #: Measured rates (tasks/s) by (backend, profile, task, mode, processes): they size later throughput windows.
    rates: dict[tuple[str, str, str, str, int], float] = field(default_factory=dict)
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
        #: How this session counts a task done (``confirmed``: its C event; ``body``: its F), settled at warm-up.
        self.completion: str | None = None
        #: Tasks/s of the warm-up: the first estimate that sizes a throughput window.
        self.warm_rate: float | None = None

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
        """Run the preset's warm-up noops and wait for them; not recorded.

        It also settles how this session counts a task done: by the backend's own ``C`` event when the backend
        writes one (every warm-up noop waits up to :data:`CONFIRM_WAIT_S` for it after its ``F``), else by ``F``.
        Its rate (tasks done over the time since the first start) is the first estimate that sizes a throughput
        window.
        """
        assert self.producer is not None and self.workers is not None
        prefix = self._prefix("warm")
        n = max(1, self.preset.warmup_tasks)
        probes = [f"{prefix}{i}" for i in range(n)]
        self.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
        self.watcher.wait_finished(
            probes, timeout_s=self.preset.drain_timeout_s, alive=self.workers.alive, settle_s=0.2
        )
        if self.completion is None:
            confirmed = self.watcher.wait_for(probes, ("confirms",), timeout_s=CONFIRM_WAIT_S, alive=self.workers.alive)
            seen = any(self.watcher.log.confirms.get(p) for p in probes)
            self.completion = completion.CONFIRMED if seen else completion.BODY
            if seen and not confirmed:
                self._drain(probes)
        else:
            self._drain(probes)
        log = self.watcher.log
        done = completion.done_times(log, probes, self.completion)
        starts = completion.first_times(log.starts, probes)
        if len(done) > 1 and starts and done[-1] > starts[0]:
            self.warm_rate = len(done) * 1e9 / (done[-1] - starts[0])

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
        """Tasks/s over a steady window of at least ``throughput_steady_s``: a noop backlog drained from a full
        queue (resources sampled meanwhile) at every process count, then each shop task produced while the workers
        consume (at the default process count only: the noop backlog shows how a backend scales with processes).
        """
        self._backlog_throughput()
        if self.spec.processes != self.preset.default_processes:
            return
        for task, calibration in self.preset.concurrent_tasks.items():
            if task in self.backend.tasks:
                self._concurrent_throughput(task, calibration)

    def _drop(self, record: dict[str, Any]) -> None:
        self.records = [r for r in self.records if r is not record]

    def _rate_key(self, task: str, mode: str) -> tuple[str, str, str, str, int]:
        return (self.backend.name, self.spec.profile, task, mode, self.spec.processes)

    def _wanted_tasks(self, rate: float, attempt: int) -> int:
        """How many tasks last the warm-up plus the steady window at ``rate``, with the attempt's margin."""
        seconds = self.preset.throughput_warmup_s + self.preset.throughput_steady_s
        margin = WINDOW_MARGIN if attempt == 1 else WINDOW_MARGIN_RETRY
        return max(math.ceil(rate * seconds * margin) + self.spec.processes, MIN_WINDOW_TASKS)

    @staticmethod
    def _overall_rate(values: dict[str, Any], done: list[int]) -> float | None:
        """The measured rate that sizes a retry and later windows: the steady window's, else the whole run's."""
        if isinstance(values.get("tasks_per_s"), float):
            return float(values["tasks_per_s"])
        return completion.span_rate(done)

    def _throughput_record(
        self, probes: list[str], params: dict[str, Any], *, attempts: int, capped: bool, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """A throughput record from the channel: confirmed (or body) rate over the steady window, F→C lag."""
        assert self.completion is not None
        values, parts = completion.throughput_values(
            self.watcher.log,
            probes,
            completion=self.completion,
            warmup_s=self.preset.throughput_warmup_s,
            processes=self.spec.processes,
        )
        values |= {"attempts": attempts, "capped": capped, "min_steady_s": self.preset.throughput_steady_s} | extra
        record = self._record("throughput", params, values=values, samples={"window_part_rates": parts})
        lost = values["lost"]
        if lost:
            record["status"] = "failed"
            record["error"] = f"{lost} of {len(probes)} tasks were not {self.completion}-done in time"
        elif values["steady_s"] < self.preset.throughput_steady_s:
            record["status"] = "too_short"
            record["error"] = f"steady window {values['steady_s']:.2f} s < {self.preset.throughput_steady_s:g} s" + (
                f" (capped at max_window_tasks={self.preset.max_window_tasks})" if capped else ""
            )
        return record

    def _backlog_throughput(self) -> None:
        """A noop backlog filled with no consumer, then drained; sized from the estimated rate to last the window.

        A window that came out short (the estimate was low) is measured again, bigger (:meth:`_sized_windows`).
        Resources are sampled at a fixed interval during the last drain.
        """
        assert self.producer is not None
        params = {"task": "noop", "processes": self.spec.processes, "mode": "backlog"}
        rate = self.ctx.rates.get(self._rate_key("noop", "backlog")) or self.warm_rate or DEFAULT_RATE
        load: dict[str, Any] = {}

        def measure(n: int, attempt: int, capped: bool) -> tuple[dict[str, Any], list[int]]:
            assert self.producer is not None
            self.stop_workers()  # the backlog is filled with no consumer running
            prefix = self._prefix("backlog")
            probes = [f"{prefix}{i}" for i in range(n)]
            self.ctx.progress(f"{self.spec.label}: filling a backlog of {n} noops (attempt {attempt})")
            produced = self.producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
            self.start_workers(probe=False)
            load.update(self._drain_sampling(probes))
            fill_s = (produced["last_ns"] - produced["first_ns"]) / 1e9
            record = self._throughput_record(probes, params, attempts=attempt, capped=capped, extra={"fill_s": fill_s})
            return record, completion.done_times(self.watcher.log, probes, self.completion or completion.BODY)

        done = self._sized_windows(self._rate_key("noop", "backlog"), rate, measure)
        self._resources_record(load, len(done))

    def _sized_windows(
        self,
        key: tuple[str, str, str, str, int],
        rate: float,
        measure: Callable[[int, int, bool], tuple[dict[str, Any], list[int]]],
    ) -> list[int]:
        """Run ``measure(tasks, attempt, capped)`` with a window sized from ``rate``; its done times.

        A window that came out ``too_short`` (the rate was underestimated, or the machine slowed down) is measured
        again, at least twice as big, up to :data:`MAX_ATTEMPTS`; only the last attempt stays recorded. Every
        measured rate is kept in the run context to size later windows of the same kind.
        """
        previous = 0
        done: list[int] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            wanted = max(self._wanted_tasks(rate, attempt), 2 * previous)
            n = min(wanted, self.preset.max_window_tasks)
            record, done = measure(n, attempt, wanted > n)
            measured = self._overall_rate(record["values"], done)
            if measured:
                self.ctx.rates[key] = measured
            if record["status"] != "too_short" or wanted > n or attempt == MAX_ATTEMPTS:
                break
            self._drop(record)  # superseded by a bigger window
            rate = max(rate, measured or 0.0)
            previous = n
        return done

    def _channel_bytes(self) -> int:
        """Bytes written to the channel so far: a growing number means the workers are still doing something."""
        total = 0
        with contextlib.suppress(FileNotFoundError), os.scandir(self.channel_dir) as entries:
            for entry in entries:
                with contextlib.suppress(FileNotFoundError):
                    total += entry.stat().st_size
        return total

    def _drain_sampling(self, probes: list[str]) -> dict[str, Any]:
        """Wait for every probe to be done while sampling the worker tree every ``resource_interval_s``.

        The channel is only parsed when it stopped growing for a poll interval (or at the deadline): parsing
        hundreds of thousands of events while the workers drain would take CPU from them on a small machine.
        """
        assert self.workers is not None
        interval = self.preset.resource_interval_s
        kind = completion.KIND_FIELD[self.completion or completion.BODY]
        cpu0 = usage(self.workers.tree()).cpu_seconds
        rss: list[int] = []
        pss: list[int] = []
        wanted = set(probes)
        started = now = time.monotonic()
        deadline = now + self.preset.drain_timeout_s
        next_sample = next_poll = now
        size = -1
        while self.workers.alive():
            now = time.monotonic()
            if now >= next_sample:
                reading = usage(self.workers.tree())
                rss.append(reading.rss_bytes)
                pss.append(reading.pss_bytes)
                # A fixed grid: a slow reading does not shift the later ones (skipped slots are not made up).
                next_sample += interval * max(1, math.ceil((now - next_sample) / interval + 1e-9))
            if now >= next_poll:
                current = self._channel_bytes()
                if current == size or now > deadline:
                    done_map = getattr(self.watcher.poll(), kind)
                    wanted = {p for p in wanted if not done_map.get(p)}
                    if not wanted or now > deadline:
                        break
                size = current
                self.ctx.progress(f"{self.spec.label}: draining {len(probes)} tasks, {now - started:.0f} s")
                next_poll = now + DRAIN_POLL_S
            time.sleep(max(0.0, min(next_sample, next_poll) - time.monotonic()))
        cpu1 = usage(self.workers.tree()).cpu_seconds
        time.sleep(0.2)
        self.watcher.poll()  # late duplicates
        return {"rss": rss, "pss": pss, "cpu_s": cpu1 - cpu0}

    def _resources_record(self, load: dict[str, Any], done: int) -> None:
        """RSS/PSS under load (the samples of the backlog drain) and idle (sampled after 1 s without work)."""
        if "resources" not in self.spec.scenarios or self.workers is None:
            return
        time.sleep(1.0)  # let the workers go idle before the idle memory reading
        idle_rss: list[int] = []
        idle_pss: list[int] = []
        for _ in range(IDLE_SAMPLES):
            reading = usage(self.workers.tree())
            idle_rss.append(reading.rss_bytes)
            idle_pss.append(reading.pss_bytes)
            time.sleep(self.preset.resource_interval_s)
        rss, pss = load["rss"], load["pss"]
        self._record(
            "resources",
            {"processes": self.spec.processes},
            values={
                "rss_idle_bytes": statistics.median(idle_rss),
                "pss_idle_bytes": statistics.median(idle_pss),
                "rss_load_bytes": max(rss, default=0),
                "pss_load_bytes": max(pss, default=0),
                "rss_load_median_bytes": statistics.median(rss) if rss else None,
                "pss_load_median_bytes": statistics.median(pss) if pss else None,
                "load_samples": len(rss),
                "idle_samples": len(idle_rss),
                "sample_interval_s": self.preset.resource_interval_s,
                "cpu_s_per_1000": load["cpu_s"] * 1000 / done if done else None,
                "tasks": done,
            },
            samples={
                "rss_load_bytes": rss,
                "pss_load_bytes": pss,
                "rss_idle_bytes": idle_rss,
                "pss_idle_bytes": idle_pss,
            },
        )

    def _concurrent_throughput(self, task: str, calibration: int) -> None:
        """One shop task produced while the workers consume, sized to last the steady window.

        Its rate is first estimated from ``calibration`` tasks (not recorded) unless this run measured it already.
        """
        assert self.producer is not None
        self.ensure_workers()
        params = {"task": task, "processes": self.spec.processes, "mode": "concurrent"}
        key = self._rate_key(task, "concurrent")
        rate = self.ctx.rates.get(key)
        if rate is None:
            probes = self._produce_task(task, calibration, "tpcal")
            self._drain(probes)
            log = self.watcher.log
            done = completion.done_times(log, probes, self.completion or completion.BODY)
            starts = completion.first_times(log.starts, probes)
            rate = len(done) * 1e9 / (done[-1] - starts[0]) if done and starts and done[-1] > starts[0] else None
        rate = rate or DEFAULT_RATE

        def measure(n: int, attempt: int, capped: bool) -> tuple[dict[str, Any], list[int]]:
            self.ctx.progress(f"{self.spec.label}: {n} x {task} (attempt {attempt})")
            probes = self._produce_task(task, n, f"tp-{task}-")
            self._drain(probes)
            record = self._throughput_record(probes, params, attempts=attempt, capped=capped, extra={})
            return record, completion.done_times(self.watcher.log, probes, self.completion or completion.BODY)

        self._sized_windows(key, rate, measure)

    def _produce_task(self, task: str, count: int, name: str) -> list[str]:
        """Fresh arguments for ``count`` calls of ``task``, enqueued as fast as the producer can; their probes."""
        assert self.producer is not None
        args = self.producer.call(
            "prepare_args", task=task, count=count, import_rows=self.preset.import_rows, seed=self._seq
        )["args"]
        prefix = self._prefix(name)
        self.producer.call("produce", task=task, args=args, prefix=prefix)
        return [f"{prefix}{i}" for i in range(count)]

    def scenario_latency(self) -> None:
        """Open-loop noop producer at each offered rate; stops going higher once a rate is clearly beyond saturation.

        A task is completed when it is done as the session counts done (its ``C`` event, else ``F``).
        """
        assert self.producer is not None
        self.ensure_workers()
        bound_ns = self.preset.latency_bound_ms * 1e6
        kind = self.completion or completion.BODY
        for rate in self.preset.latency_rates:
            prefix = self._prefix(f"lat{rate}-")
            answer = self.producer.call(
                "open_loop", task="noop", rate=rate, duration_s=self.preset.latency_duration_s, prefix=prefix
            )
            intended = answer["intended_ns"]
            probes = [f"{prefix}{i}" for i in range(len(intended))]
            self._drain(probes)
            log = self.watcher.log
            done_of = getattr(log, completion.KIND_FIELD[kind])
            to_start = stats.new_histogram()
            to_finish = stats.new_histogram()
            to_done = stats.new_histogram()
            lost = 0
            last_done = 0
            for probe, due in zip(probes, intended, strict=True):
                if not done_of.get(probe):
                    lost += 1
                    continue
                done = min(done_of[probe])
                last_done = max(last_done, done)
                stats.record(to_start, [min(log.starts[probe]) - due])
                if log.finishes.get(probe):
                    stats.record(to_finish, [min(log.finishes[probe]) - due])
                stats.record(to_done, [done - due])
            completed = len(intended) - lost
            histograms = {"to_start_ns": stats.encode(to_start), "to_finish_ns": stats.encode(to_finish)}
            if kind == completion.CONFIRMED:
                histograms["to_confirm_ns"] = stats.encode(to_done)
            record = self._record(
                "latency",
                {"task": "noop", "processes": self.spec.processes, "rate": rate},
                histograms=histograms,
                values={
                    "offered_rate": rate,
                    "achieved_rate": answer["achieved_rate"],
                    "sent": len(intended),
                    "completed": completed,
                    "completion": kind,
                    # Completions over the time from the first intended send to the last completion.
                    "completed_rate": completed * 1e9 / (last_done - intended[0]) if last_done > intended[0] else None,
                    "duration_s": self.preset.latency_duration_s,
                    "lost": lost,
                    "max_send_lag_ns": answer["max_send_lag_ns"],
                }
                | completion.lag_values(log, probes),
            )
            if lost:
                record["status"] = "failed"
                record["error"] = f"{lost} of {len(intended)} tasks did not complete within the drain timeout"
            p99 = to_start.get_value_at_percentile(99) if to_start.get_total_count() else float("inf")
            if lost or p99 > 20 * bound_ns:
                break  # far beyond saturation: higher rates only take longer to drain and say nothing new

    def scenario_idle_pickup(self) -> None:
        """``idle_pickup_samples`` single noops, each after the workers have been idle for the idle period."""
        assert self.producer is not None
        self.ensure_workers()
        count = self.preset.idle_pickup_samples
        for idle_s in self.preset.idle_pickup_s:
            pickups: list[int] = []
            for i in range(count):
                self.ctx.progress(f"{self.spec.label}: idle pickup {idle_s:g} s, sample {i + 1}/{count}")
                time.sleep(idle_s)
                prefix = self._prefix("idle")
                sent = self.producer.call("single", task="noop", prefix=prefix)["sent_ns"]
                probe = f"{prefix}0"
                # Done (C) before the next idle period starts: the bookkeeping after the body is work too.
                if not self._drain([probe], timeout_s=60) or not self.watcher.log.starts.get(probe):
                    break
                pickups.append(min(self.watcher.log.starts[probe]) - sent)
            ok = len(pickups) == count
            self._record(
                "idle_pickup",
                {"processes": self.spec.processes, "idle_s": idle_s},
                values={"count": len(pickups)},
                samples={"pickup_ns": pickups},
                status="ok" if ok else "failed",
                error=None if ok else f"sample {len(pickups) + 1} did not run within 60 s",
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
