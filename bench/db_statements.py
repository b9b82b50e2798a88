"""``python -m bench.db_statements``: what each backend's Django integration asks of the database, per task, counted.

Runs each backend's real workers on a private PostgreSQL cluster whose server logs every statement and connection
(``log_statement=all``, ``log_connections=on``), with the producer and the workers told apart by their libpq
``application_name`` (``PGAPPNAME``). For a batch of noop tasks it counts, per task: new connections, statements
and transactions (BEGIN/COMMIT, and statements outside an explicit transaction, which autocommit one each), split
into the enqueue side and the worker side; an idle window of the same length is subtracted (pollers, heartbeats).

Not a timing: the server log costs time itself. It answers "how many round trips and commits does this
integration add per task", the part of a backend's cost that depends on the database engine.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import REPO_ROOT
from bench.agent import run_agent
from bench.backends import get_backends
from bench.channel_wait import ChannelWatcher
from bench.errors import BenchError
from bench.runner import ProducerClient
from bench.services import ManagedProcess, PostgresServer, RedisServer, SmtpSink

PREFIX = "%a|%d|%p|"
_LINE = re.compile(r"^(?P<app>[^|]*)\|(?P<db>[^|]*)\|(?P<pid>\d+)\|(?P<level>\w+):\s+(?P<message>.*)$")
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


def measure(
    backend_name: str, tasks: int, processes: int, profile: str, workdir: Path, keep_log: Path | None = None
) -> dict[str, Any]:
    """Counts per task for one backend (enqueue side = ``producer``, worker side = ``worker``)."""
    backend = get_backends([backend_name])[0]
    settings = {
        "log_statement": "all",
        "log_connections": "on",
        "log_line_prefix": PREFIX,
        "log_min_messages": "warning",
    }
    with (
        RedisServer() as redis,
        SmtpSink(workdir / f"mail-{backend.name}") as smtp,
        PostgresServer(settings=settings) as pg,
    ):
        database = f"{backend.name}_count"
        env = backend.environment(
            redis_url=redis.url,
            var_dir=workdir / f"var-{backend.name}",
            smtp_port=smtp.port,
            channel_dir=workdir / f"channel-{backend.name}",
            profile=profile,
            database_url=pg.database_url(database),
        )
        env["BENCH_QUEUE_MODULE"] = backend.queue_module
        (workdir / f"channel-{backend.name}").mkdir(parents=True, exist_ok=True)
        run_agent(backend, env, "prepare", {}, timeout=300)
        watcher = ChannelWatcher(str(workdir / f"channel-{backend.name}"))
        producer = ProducerClient(env | {"PGAPPNAME": "producer"}, REPO_ROOT, workdir / f"producer-{backend.name}.log")
        workers = ManagedProcess(
            backend.worker_argv(processes, profile),
            env=env | backend.worker_env(processes) | {"PGAPPNAME": "worker"},
            cwd=backend.project_dir,
            log_path=workdir / f"worker-{backend.name}.log",
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
