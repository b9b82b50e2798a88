"""``python -m bench.db_statements``: what each backend's Django integration asks of the database, per task, counted.

Runs each backend's real workers on a private PostgreSQL cluster whose server logs every statement and connection
(``log_statement=all``, ``log_connections=on``), with the producer and the workers told apart by their libpq
``application_name`` (``PGAPPNAME``). For a batch of noop tasks it counts, per task: new connections, statements
and transactions (BEGIN/COMMIT, and statements outside an explicit transaction, which autocommit one each), split
into the enqueue side and the worker side; an idle window of the same length is subtracted (pollers, heartbeats).

Not a timing: the server log costs time itself. It answers "how many round trips and commits does this
integration add per task", the part of a backend's cost that depends on the database engine.

``python -m bench`` runs the same count once per Django backend and profile when its scenarios include
``throughput`` (:func:`count_records`: one private logging cluster beside the run's own, after the performance
sessions), and stores each as a ``db_statements`` record the report shows beside tasks/s.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench import REPO_ROOT
from bench.agent import run_agent
from bench.backends import Backend, get_backends
from bench.channel_wait import ChannelWatcher
from bench.errors import BenchError
from bench.runner import ProducerClient
from bench.services import ExternalRedis, ManagedProcess, PostgresServer, RedisServer, SmtpSink

PREFIX = "%a|%d|%p|"
_LINE = re.compile(r"^(?P<app>[^|]*)\|(?P<db>[^|]*)\|(?P<pid>\d+)\|(?P<level>\w+):\s+(?P<message>.*)$")
#: The server settings of a counting cluster: every statement and connection logged, with app name, database, pid.
COUNT_SETTINGS = {
    "log_statement": "all",
    "log_connections": "on",
    "log_line_prefix": PREFIX,
    "log_min_messages": "warning",
}
#: Noop tasks per count in a benchmark run (the counts are per task: more tasks only average out pollers).
RUN_TASKS = 100
#: The per-task totals a record carries for each side (``producer_<name>``, ``worker_<name>``) and summed (``<name>``).
TOTALS = ("statements", "write_commits", "connections")
#: Statement shapes kept in a record's notes, per side (the most frequent first).
SHAPES_KEPT = 6
#: Statement kinds reported (the first SQL keyword); everything else is "other".
KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE", "BEGIN", "COMMIT", "ROLLBACK", "SET", "SAVEPOINT", "RELEASE")


def count(log_text: str, database: str) -> dict[str, collections.Counter[str]]:
    """Per application name: ``connections``, ``statements``, ``transactions`` and each statement kind."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    in_transaction: dict[str, bool] = {}
    wrote: dict[str, bool] = {}
    connected: list[str] = []  # server pids of new sessions
    app_of: dict[str, str] = {}
    for line in log_text.splitlines():
        match = _LINE.match(line)
        if match is None or match["db"] != database:
            continue
        app, message, pid = match["app"] or "?", match["message"], match["pid"]
        if message.startswith("connection authorized"):
            # Logged before the session applies its application_name: attributed through its first statement.
            connected.append(pid)
        elif message.startswith("statement: "):
            app_of.setdefault(pid, app)
            sql = message[len("statement: ") :].lstrip()
            kind = sql.split(None, 1)[0].upper() if sql else ""
            counts[app]["statements"] += 1
            counts[app][kind if kind in KINDS else "other"] += 1
            counts[app]["sql: " + _shape(sql)] += 1
            # A committed write waits for its WAL flush (fsync with PostgreSQL's defaults); a statement outside
            # BEGIN … COMMIT commits on its own (autocommit).
            writes = kind in ("INSERT", "UPDATE", "DELETE")
            if kind == "BEGIN":
                in_transaction[pid], wrote[pid] = True, False
            elif kind == "COMMIT":
                in_transaction[pid] = False
                counts[app]["write_commits"] += wrote.get(pid, False)
            elif kind == "ROLLBACK":
                in_transaction[pid] = False
            elif writes and in_transaction.get(pid):
                wrote[pid] = True
            elif writes:
                counts[app]["write_commits"] += 1
    for pid in connected:
        counts[app_of.get(pid, "?")]["connections"] += 1
    return counts


def _shape(sql: str) -> str:
    """A statement with its literals replaced, cut short: what kind of query it is."""
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)
    sql = re.sub(r'"s\d+_x\d+"', '"<savepoint>"', sql)  # Django's generated savepoint names
    sql = re.sub(r"\b\d+(?:\.\d+)?\b", "?", sql)
    return " ".join(sql.split())[:110]


def measure_on(
    backend: Backend,
    profile: str,
    *,
    pg: PostgresServer,
    redis: RedisServer | ExternalRedis,
    smtp: SmtpSink,
    workdir: Path,
    tasks: int,
    processes: int,
    keep_log: Path | None = None,
    amqp_url: str | None = None,
) -> dict[str, Any]:
    """Counts per task for one backend and profile on a counting cluster (:data:`COUNT_SETTINGS`) and the given
    Redis (flushed first), RabbitMQ (``amqp_url``, for a backend on it) and SMTP sink, a queue outside Redis purged;
    enqueue side = ``producer``, worker side = ``worker``."""
    database = re.sub(r"[^a-z0-9_]", "_", f"{backend.name}_{profile}_count".lower())  # celery-rabbitmq: no "-"
    redis.flushall()
    channel_dir = workdir / f"channel-{backend.name}-{profile}"
    env = backend.environment(
        redis_url=redis.url,
        amqp_url=amqp_url,
        var_dir=workdir / f"var-{backend.name}-{profile}",
        smtp_port=smtp.port,
        channel_dir=channel_dir,
        profile=profile,
        database_url=pg.database_url(database),
    )
    env["BENCH_QUEUE_MODULE"] = backend.queue_module
    channel_dir.mkdir(parents=True, exist_ok=True)
    run_agent(backend, env, "prepare", {}, timeout=300)
    watcher = ChannelWatcher(str(channel_dir))
    producer = ProducerClient(
        env | {"PGAPPNAME": "producer"}, REPO_ROOT, workdir / f"producer-{backend.name}-{profile}.log"
    )
    if backend.broker != "redis":
        # As a session's flush_broker: a queue outside Redis (RabbitMQ's, a database table) keeps what the run's
        # sessions left in it, which is not this count's work.
        producer.call("purge")
    workers = ManagedProcess(
        backend.worker_argv(processes, profile),
        env=env | backend.worker_env(processes) | {"PGAPPNAME": "worker"},
        cwd=backend.project_dir,
        log_path=workdir / f"worker-{backend.name}-{profile}.log",
        name=f"{backend.name} worker",
    ).start()
    try:

        def batch(prefix: str, n: int) -> float:
            t0 = time.monotonic()
            producer.call("produce", task="noop", args=[[] for _ in range(n)], prefix=prefix)
            probes = [f"{prefix}{i}" for i in range(n)]
            if not watcher.wait_finished(probes, timeout_s=300, alive=workers.alive):
                raise BenchError(f"{backend.name}: the tasks did not finish")
            # Wait for the backend's own "done" (result saved) where it reports one, then let writers settle.
            watcher.wait_for(probes, ("confirms",), timeout_s=15, alive=workers.alive)
            time.sleep(2.0)
            return time.monotonic() - t0

        batch("warm", 20)
        time.sleep(2.0)
        start = pg.log_path.stat().st_size
        seconds = batch("count", tasks)
        measured = pg.log_path.read_text(errors="replace")[start:]
        if keep_log is not None:
            keep_log.mkdir(parents=True, exist_ok=True)
            (keep_log / f"{backend.name}-{profile}.log").write_text(measured)
        # An idle window as long as the measured one: what the workers ask of the database with nothing to do.
        idle_start = pg.log_path.stat().st_size
        time.sleep(seconds)
        idle = pg.log_path.read_text(errors="replace")[idle_start:]
    finally:
        workers.stop(timeout=30)
        producer.close()
    busy, quiet = count(measured, database), count(idle, database)
    result: dict[str, Any] = {"seconds": round(seconds, 2), "tasks": tasks}
    for app in ("producer", "worker"):
        keys = set(busy.get(app, {})) | set(quiet.get(app, {}))
        result[app] = {
            key: round((busy.get(app, {}).get(key, 0) - quiet.get(app, {}).get(key, 0)) / tasks, 2)
            for key in sorted(keys)
        }
        result[app + "_idle_per_s"] = {k: round(v / seconds, 2) for k, v in sorted(quiet.get(app, {}).items())}
    return result


def measure(
    backend_name: str, tasks: int, processes: int, profile: str, workdir: Path, keep_log: Path | None = None
) -> dict[str, Any]:
    """Counts per task for one backend, with its own private Redis, SMTP sink and counting cluster."""
    backend = get_backends([backend_name])[0]
    with (
        RedisServer() as redis,
        SmtpSink(workdir / f"mail-{backend.name}") as smtp,
        PostgresServer(settings=COUNT_SETTINGS) as pg,
    ):
        return measure_on(
            backend,
            profile,
            pg=pg,
            redis=redis,
            smtp=smtp,
            workdir=workdir,
            tasks=tasks,
            processes=processes,
            keep_log=keep_log,
        )


def to_record(backend: str, profile: str, processes: int, result: dict[str, Any], version: str) -> dict[str, Any]:
    """A ``db_statements`` record of the results file (docs/RESULTS-SCHEMA.md) from one :func:`measure_on` result.

    ``values``: per task, each of :data:`TOTALS` for the enqueue side (``producer_*``), the worker side
    (``worker_*``) and both (the bare name), and ``tasks``/``seconds``; ``notes``: the most frequent statement shapes
    of each side per task, and the server that logged them.
    """
    values: dict[str, Any] = {"tasks": result["tasks"], "seconds": result["seconds"]}
    notes: dict[str, Any] = {"counted_on": f"PostgreSQL {version} (a private cluster logging every statement)"}
    for side in ("producer", "worker"):
        counts = result.get(side) or {}
        for name in TOTALS:
            values[f"{side}_{name}"] = counts.get(name, 0.0)
        shapes = sorted(
            ((v, k[len("sql: ") :]) for k, v in counts.items() if k.startswith("sql: ") and v > 0),
            key=lambda item: -item[0],
        )
        notes[f"{side}_sql"] = "; ".join(f"{v:g} × {shape}" for v, shape in shapes[:SHAPES_KEPT]) or "none"
    for name in TOTALS:
        values[name] = round(values[f"producer_{name}"] + values[f"worker_{name}"], 2)
    return {
        "backend": backend,
        "profile": profile,
        "scenario": "db_statements",
        "params": {"task": "noop", "processes": processes},
        "repetition": 0,
        "status": "ok",
        "error": None,
        "histograms": {},
        "values": values,
        "samples": {},
        "notes": notes,
        "duration_s": None,
    }


def count_records(
    pairs: Iterable[tuple[Backend, str]],
    *,
    redis: RedisServer | ExternalRedis,
    smtp: SmtpSink,
    workdir: Path,
    processes: int,
    tasks: int = RUN_TASKS,
    progress: Callable[[str], None] = lambda _msg: None,
    amqp_url: str | None = None,
) -> list[dict[str, Any]]:
    """A ``db_statements`` record per (backend, profile) of a benchmark run, on one counting cluster it starts.

    A count that fails becomes a failed record with its one-line reason; the others go on.
    """
    records: list[dict[str, Any]] = []
    pairs = [(b, p) for b, p in pairs if b.django]
    if not pairs:
        return records
    workdir.mkdir(parents=True, exist_ok=True)
    with PostgresServer(settings=COUNT_SETTINGS) as pg:
        version = str(pg.describe().get("version") or "").split(" ")[0]
        for backend, profile in pairs:
            progress(f"DB statements per task: {backend.name}/{profile}")
            started, started_at = time.monotonic(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            try:
                result = measure_on(
                    backend,
                    profile,
                    pg=pg,
                    redis=redis,
                    smtp=smtp,
                    workdir=workdir,
                    tasks=tasks,
                    processes=processes,
                    amqp_url=amqp_url,
                )
                record = to_record(backend.name, profile, processes, result, version)
            except (BenchError, OSError, subprocess.SubprocessError) as exc:
                record = to_record(backend.name, profile, processes, {"tasks": tasks, "seconds": None}, version)
                record.update(status="failed", error=str(exc)[:500], values={}, notes={})
            record["started_at"] = started_at
            record["duration_s"] = round(time.monotonic() - started, 3)
            records.append(record)
    return records


def main(argv: list[str] | None = None) -> int:
    """Entry point: one table per backend on stdout."""
    parser = argparse.ArgumentParser(prog="python -m bench.db_statements", description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="celery,djangoq,dramatiq,huey")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--profile", default="shipped")
    parser.add_argument("--keep-log", type=Path, help="write the measured window of the server log here")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="db-statements-") as tmp:
            for name in [n.strip() for n in args.backends.split(",") if n.strip()]:
                result = measure(name, args.tasks, args.processes, args.profile, Path(tmp), args.keep_log)
                print(f"{name} ({args.profile}, {args.processes} processes, {args.tasks} noop tasks):", flush=True)
                for key, value in result.items():
                    if isinstance(value, dict):
                        totals = {k: v for k, v in value.items() if not k.startswith("sql: ") and v}
                        print(f"  {key}: {totals}")
                        for k, v in value.items():
                            if k.startswith("sql: ") and v:
                                print(f"      {v:>6} × {k[5:]}")
                    else:
                        print(f"  {key}: {value}", flush=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
