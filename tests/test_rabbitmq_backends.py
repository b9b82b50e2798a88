"""Celery and Dramatiq on RabbitMQ, and the AMQP floor: backends of their own from the same projects, chosen by data.

A private node (``bench.services.RabbitMQServer``) carries the shop's three tasks through each RabbitMQ backend's real
worker command line (the verification: real effects, and the backend's own "done" for each), the AMQP floor's raw
loop, and a ``python -m bench`` run limited to them. The ``unit`` tests check the descriptions and settings only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.agent import run_agent
from bench.backends import Backend, get_backend, get_backends, load_backends
from bench.channel_wait import ChannelWatcher
from bench.db_statements import COUNT_SETTINGS, measure_on
from bench.faults.outcomes import OUTCOMES
from bench.results import load_results
from bench.runner import ProducerClient
from bench.services import (
    ManagedProcess,
    PostgresServer,
    RabbitMQServer,
    RedisServer,
    SmtpSink,
    postgres_available,
    rabbitmq_available,
)
from bench.services.rabbitmq import amqp_connection
from bench.verify import verify_backend

from .test_services import require_service

REPO = Path(__file__).resolve().parent.parent
#: The RabbitMQ backends and their floor, as named in the projects' ``[brokers.rabbitmq]`` tables.
RABBITMQ_BACKENDS = ("celery-rabbitmq", "dramatiq-rabbitmq")
AMQP_FLOOR = "amqp-baseline"
#: The queue each library declares by default (Celery's task_default_queue, Dramatiq's actor queue).
DEFAULT_QUEUES = {"celery-rabbitmq": "celery", "dramatiq-rabbitmq": "default"}


def _backend(name: str) -> Backend:
    return get_backends([name], with_baseline=True)[0]


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[RabbitMQServer]:
    """One private node for this module (the machine's own node on 5672 is never touched)."""
    require_service(rabbitmq_available())
    with RabbitMQServer() as server:
        yield server


# ----------------------------------------------------------------------------------------------------------------------
# Described by data: same project, broker chosen by SHOP_BROKER


@pytest.mark.unit
@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_rabbitmq_backend_is_the_redis_project_with_another_broker(name: str) -> None:
    backend = _backend(name)
    twin = get_backend(name.removesuffix("-rabbitmq"))
    assert backend.broker == "rabbitmq" and twin.broker == "redis"
    assert backend.floor == AMQP_FLOOR and "RabbitMQ" in backend.label
    assert backend.project_dir == twin.project_dir and backend.worker_argv_template == twin.worker_argv_template
    env = backend.environment(redis_url="redis://127.0.0.1:1/0", amqp_url="amqp://127.0.0.1:1/", var_dir=".")
    assert env["SHOP_BROKER"] == "rabbitmq" and env["SHOP_AMQP_URL"].startswith("amqp://")
    assert twin.environment(redis_url="redis://127.0.0.1:1/0", var_dir=".")["SHOP_BROKER"] == "redis"
    # Not among the project backends the Redis-only tests iterate over; in the command line's choice.
    assert name not in load_backends() and name in load_backends(brokers=True)
    assert {name, AMQP_FLOOR} <= {b.name for b in get_backends(with_baseline=True)}


@pytest.mark.unit
def test_amqp_floor_is_the_floor_of_the_rabbitmq_broker() -> None:
    floor = _backend(AMQP_FLOOR)
    assert floor.role == "floor" and floor.broker == "rabbitmq" and floor.tasks == ("noop",) and not floor.django


@pytest.mark.unit
def test_without_a_node_the_rabbitmq_backends_are_skipped_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.__main__ as cli

    everything = get_backends(with_baseline=True)
    lines: list[str] = []
    monkeypatch.setattr(cli, "rabbitmq_available", lambda: "rabbitmq-server not found: install it")
    kept = cli.with_rabbitmq(everything, None, lines.append)
    assert [b.name for b in kept] == [b.name for b in everything if b.broker != "rabbitmq"]
    assert len(lines) == 1 and all(n in lines[0] for n in (*RABBITMQ_BACKENDS, AMQP_FLOOR)), lines
    # --amqp-url: nothing skipped, nothing said.
    lines.clear()
    assert cli.with_rabbitmq(everything, "amqp://guest:guest@127.0.0.1:5/", lines.append) == everything and not lines


def _settings(backend: Backend, profile: str, tmp_path: Path) -> list[dict[str, object]]:
    env = backend.environment(
        redis_url="redis://127.0.0.1:1/0",
        amqp_url="amqp://guest:guest@127.0.0.1:1/",
        var_dir=tmp_path / f"var-{backend.name}-{profile}",
        profile=profile,
    )
    return run_agent(backend, env, "bench_settings", {}, timeout=120)


@pytest.mark.unit
@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_safe_profile_adds_publisher_confirms_with_a_reason(name: str, tmp_path: Path) -> None:
    backend = _backend(name)
    shipped = {s["setting"]: s for s in _settings(backend, "shipped", tmp_path)}
    safe = {s["setting"]: s for s in _settings(backend, "safe", tmp_path)}
    assert all(s["reason"] for s in [*shipped.values(), *safe.values()])
    assert any("AMQP_URL" in str(s["value"]) for s in shipped.values())
    confirms = [s for key, s in safe.items() if "confirm" in key or "confirm_publish" in str(s["value"])]
    assert confirms and not [s for key, s in shipped.items() if "confirm" in key]
    # Nothing of the Redis broker's fault timeouts leaks into the RabbitMQ configuration.
    assert not [key for key in safe if "visibility" in str(safe[key]["value"]) or "heartbeat" in key]


# ----------------------------------------------------------------------------------------------------------------------
# On a private node: the shop's tasks through the real workers, the floor, the command line


@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_shop_tasks_run_and_are_done_as_the_backend_reports_on_rabbitmq(
    name: str, rabbitmq: RabbitMQServer, redis_server: RedisServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    backend = _backend(name)
    report = verify_backend(
        backend, redis=redis_server, smtp=smtp_sink, workdir=tmp_path, processes=2, amqp_url=rabbitmq.url
    )
    assert report.passed, report.summary()
    # It went through the node: the library's queue exists there (passive declare: an error if it does not).
    conn = amqp_connection(rabbitmq.url)
    try:
        conn.channel().queue_declare(DEFAULT_QUEUES[name], passive=True)
    finally:
        conn.close()
    # The verification probes every shop task as `run:<TaskRun pk>`; the backend's own completion hook (Celery's
    # task_success after the result is stored, Dramatiq's after_ack) wrote a C event for each of them.
    log = ChannelWatcher(str(tmp_path / name / "channel"))
    log.poll()
    confirmed = {probe for probe, times in log.log.confirms.items() if times and probe.startswith("run:")}
    finished = {probe for probe, times in log.log.finishes.items() if times and probe.startswith("run:")}
    assert finished and finished <= confirmed, f"not confirmed done: {sorted(finished - confirmed)}"
    # The real effects of each shop task were checked (the email in the sink, the products, the report file).
    passed = {check.name for check in report.checks if check.passed}
    assert {"invoice email received once", "import: products written", "report content as expected"} <= passed


def test_amqp_floor_publishes_consumes_and_acks(rabbitmq: RabbitMQServer, tmp_path: Path) -> None:
    floor = _backend(AMQP_FLOOR)
    channel_dir = tmp_path / "channel"
    channel_dir.mkdir()
    env = floor.environment(
        redis_url="redis://127.0.0.1:1/0", amqp_url=rabbitmq.url, var_dir=tmp_path / "var", channel_dir=channel_dir
    )
    probes = [f"floor-{i}" for i in range(50)]
    code = (
        "from bench.baseline_amqp.client import ENQUEUE, purge\n"
        "purge()\n"
        f"for probe in {probes!r}: ENQUEUE['noop'](probe=probe)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True, timeout=60)
    with ManagedProcess(
        floor.worker_argv(2), env=env, cwd=floor.project_dir, log_path=tmp_path / "worker.log", name="amqp floor"
    ) as workers:
        watcher = ChannelWatcher(str(channel_dir))
        assert watcher.wait_for(probes, ("confirms",), timeout_s=60, alive=workers.alive), workers.log_tail(5)
    assert len({e for p in probes for e in watcher.log.starts.get(p, [])}) == len(probes)  # each ran once


def test_bench_run_limited_to_the_rabbitmq_backends_exits_0_with_ok_records(
    rabbitmq: RabbitMQServer, tmp_path: Path
) -> None:
    """Through the delay proxy at zero delay (``loopback+proxy``: no timing premise to miss on a busy machine), so
    the run also proves that the AMQP connections go through it: each session measures the round trip to RabbitMQ,
    and the proxy counts AMQP round trips per enqueue and per task (the added delay itself: tests/test_proxy.py)."""
    names = [*RABBITMQ_BACKENDS, AMQP_FLOOR]
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--preset", "smoke", "--backends", ",".join(names), "--amqp-url",
         rabbitmq.url, "--scenarios", "enqueue,round_trips", "--database", "sqlite", "--network",
         "loopback+proxy", "--out", str(tmp_path), "--no-report"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = load_results(tmp_path / "results.json")
    assert results.environment.get("rabbitmq_version")
    for name in names:
        records = results.select(backend=name)
        assert {r.scenario for r in records} == {"enqueue", "round_trips"}, name
        assert all(r.ok for r in records), [(r.scenario, r.params, r.status, r.error) for r in records if not r.ok]
        assert results.backends[name]["broker"] == "rabbitmq"
        assert all(r.network["measured"]["amqp"]["p50_us"] > 0 for r in records), name
        # Counted on the AMQP route. A publish without confirms waits for no answer (0 round trips per enqueue in
        # shipped); a task's delivery after the previous one's ack is a turn.
        (counted,) = results.select(backend=name, scenario="round_trips")
        assert "enqueue_amqp" in counted.values and counted.values["task_amqp_raw"] > 0, counted.values
    for name in RABBITMQ_BACKENDS:
        assert results.backends[name]["floor"] == AMQP_FLOOR


def test_database_statements_are_counted_on_rabbitmq_too(
    rabbitmq: RabbitMQServer, redis_server: RedisServer, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    """The statement count reaches the RabbitMQ backend's broker (its workers would wait forever on a Redis queue
    nobody fills): Celery on RabbitMQ saves each result through django-celery-results, so the worker side writes."""
    require_service(postgres_available())
    with PostgresServer(settings=COUNT_SETTINGS) as pg:
        result = measure_on(
            _backend("celery-rabbitmq"), "shipped", pg=pg, redis=redis_server, smtp=smtp_sink, workdir=tmp_path,
            tasks=30, processes=2, amqp_url=rabbitmq.url,
        )  # fmt: skip
    print(f"\ncelery-rabbitmq: {result['producer']} enqueue side, {result['worker']} worker side, per task")
    assert result["worker"].get("write_commits", 0) >= 0.9, result["worker"]


# ----------------------------------------------------------------------------------------------------------------------
# The fault gate on RabbitMQ: every worker process held inside a gated task, then a worker SIGKILL


#: Two worker processes, each to be held by one gated task; short tasks waiting behind them.
PROCESSES = 2
SHORT_TASKS = 6
#: The gated tasks' upper bound: the test opens the gate long before it.
GATE_SECONDS = 60.0


@pytest.mark.parametrize("profile", ["shipped", "safe"])
@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_fault_gate_holds_every_process_and_a_sigkilled_workers_messages_return(
    name: str, profile: str, rabbitmq: RabbitMQServer, tmp_path: Path
) -> None:
    """The premise the fault scenarios need, on RabbitMQ: 2 gated tasks hold both worker processes (seen on the
    channel: two distinct pids) and no short task starts; then the whole worker tree is SIGKILLed, a new worker starts
    and the gate opens. RabbitMQ returns a dead consumer's unacknowledged messages when its connection closes, so every
    waiting task runs at once (on Redis, Celery's wait for visibility_timeout); a running task comes back only where
    the library acknowledges after the task (Celery acks_late in safe, Dramatiq always)."""
    backend = _backend(name)
    channel_dir, var_dir = tmp_path / "channel", tmp_path / "var"
    env = backend.environment(
        redis_url="redis://127.0.0.1:1/0",  # never used on RabbitMQ: a closed port proves it
        amqp_url=rabbitmq.url,
        var_dir=var_dir,
        channel_dir=channel_dir,
        profile=profile,
    ) | {"BENCH_QUEUE_MODULE": backend.queue_module, "SHOP_RABBITMQCTL": json.dumps(rabbitmq.ctl_spec())}
    run_agent(backend, env, "prepare", {"demo": False})
    producer = ProducerClient(env, REPO, tmp_path / "producer.log")
    producer.call("purge")  # what an earlier test left on the node's queue

    def start_worker(log: str) -> ManagedProcess:
        return ManagedProcess(
            backend.worker_argv(PROCESSES, profile),
            env=env | backend.worker_env(PROCESSES),
            cwd=backend.project_dir,
            log_path=tmp_path / log,
            name=f"{name}-worker",
        ).start()

    worker = start_worker("worker.log")
    try:
        watcher = ChannelWatcher(str(channel_dir))
        producer.call("produce_tracked", task="noop", args=[[]], prefix="ready-")
        assert watcher.wait_finished(["ready-0"], timeout_s=60, alive=worker.alive), worker.log_tail(10)
        gate = f"gate-{uuid.uuid4().hex[:8]}"
        gated: list[str] = []

        def add_gated(count: int) -> None:
            prefix = f"gated{len(gated)}-"
            producer.call("produce_tracked", task="sleep", args=[[GATE_SECONDS, gate]] * count, prefix=prefix)
            gated.extend(f"{prefix}{i}" for i in range(count))

        # As the fault workload arms it (bench.faults.workload.arm): one gated task per process, then one more every
        # half second while a process is idle (Dramatiq prefetches 2 messages into each single-threaded process).
        add_gated(PROCESSES)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(gated) < 4 * PROCESSES:
            time.sleep(0.5)
            log = watcher.poll()
            if len({pid for p in gated for pid in log.start_pids.get(p, ())}) >= PROCESSES:
                break
            add_gated(1)
        short = [f"short-{i}" for i in range(SHORT_TASKS)]
        producer.call("produce_tracked", task="noop", args=[[]] * SHORT_TASKS, prefix="short-")
        time.sleep(1.0)  # give any process that is free a chance to start a short task
        log = watcher.poll()
        running = [p for p in gated if log.starts.get(p)]
        pids = {pid for p in running for pid in log.start_pids.get(p, ())}
        waiting = [p for p in gated if p not in running] + short
        started = [p for p in waiting if log.starts.get(p)]
        state = f"{len(running)} gated tasks running in pids {sorted(pids)}, waiting tasks started: {len(started)}"
        if len(pids) != PROCESSES:
            pytest.xfail(f"{name}/{profile}: gated tasks did not hold {PROCESSES} processes: {state}")
        assert not started, f"a waiting task ran while every process was held: {state}"
        # locate, from the broker's own view: every waiting task is held (ready in the queue, or delivered to a worker
        # and unacknowledged), none unknown; a running task is held where the library acknowledges after the task
        # and, where it acknowledged at the start (Celery's default), in no broker structure.
        acks_late = profile == "safe" or name.startswith("dramatiq")
        held = producer.call("locate", probes=running + waiting)
        assert all(held[p]["where"] in ("queued", "reserved") for p in waiting), {p: held[p] for p in waiting}
        assert all(held[p]["where"] == ("reserved" if acks_late else "nowhere") for p in running), held
        reserved = [held[p] for p in running + waiting if held[p]["where"] == "reserved"]
        assert all(loc["returns_in_s"] == 1800 and "consumer_timeout" in loc["rule"] for loc in reserved), reserved
        queued_before = [p for p in waiting if held[p]["where"] == "queued"]
        # The peek left each ready message in place: locate again and the same tasks are still queued.
        again = producer.call("locate", probes=queued_before)
        assert all(again[p]["where"] == "queued" for p in queued_before), again

        # -- the fault: SIGKILL of the whole worker tree, a new worker, then the gate opens ----------------------------
        worker.kill()
        killed_at = time.monotonic()
        worker = start_worker("worker-after.log")
        (var_dir / "gates").mkdir(parents=True, exist_ok=True)
        (var_dir / "gates" / gate).touch()
        assert watcher.wait_finished(waiting, timeout_s=60, alive=worker.alive), (
            f"waiting tasks did not come back after the SIGKILL; {worker.log_tail(10)}"
        )
        back_s = time.monotonic() - killed_at
        time.sleep(2.0)  # a rerun gated task finishes at once (gate open)
        log = watcher.poll()
        rerun = [p for p in running if len(log.starts.get(p, ())) > 1 and log.finishes.get(p)]
        print(f"\n{name}/{profile}: {state}; after SIGKILL: waiting tasks back in {back_s:.1f} s, "
              f"running tasks rerun: {len(rerun)} of {len(running)}; held before: "
              f"{sorted({h['where'] for h in held.values()})}")  # fmt: skip
        assert back_s < 30, "RabbitMQ should return a dead consumer's unacked messages when its connection closes"
        assert rerun == (running if acks_late else []), f"{name}/{profile}: rerun {rerun} of {running}"
        # After it all: a running task lost with its worker (acks at start) is nowhere; nothing is held any more.
        after = producer.call("locate", probes=running + waiting)
        lost = [p for p in running if p not in rerun]
        assert all(after[p]["where"] in ("done", "nowhere") for p in running + waiting), after
        assert all(after[p]["where"] == "nowhere" for p in lost), after
    finally:
        worker.stop(timeout=15)
        producer.close()


# ----------------------------------------------------------------------------------------------------------------------
# consumer_timeout: a delayed task held by a worker longer than the node allows

#: The node's consumer_timeout for this test (RabbitMQ's default: 30 min); RabbitMQServer shortens the channel tick
#: that checks it to 1 s (60 s by default).
CONSUMER_TIMEOUT_MS = 5_000
#: How far ahead the delayed task is scheduled: well past the timeout and the node's check of it.
HELD_S = 20.0
#: What each library did when the node closed the channel holding its delayed messages (observed with RabbitMQ 3.10,
#: celery 5.7 / kombu 5.7, dramatiq 2.2): Celery's worker stops ("Unrecoverable error: PreconditionFailed"), its ETA
#: messages back in the queue for the next worker; Dramatiq's delay consumer reconnects and the tasks run when due.
AFTER_CONSUMER_TIMEOUT = {"celery-rabbitmq": "worker exits", "dramatiq-rabbitmq": "consumer reconnects"}


@pytest.fixture(scope="module")
def short_timeout_node() -> Iterator[RabbitMQServer]:
    """A private node whose consumer_timeout is shortened to :data:`CONSUMER_TIMEOUT_MS` (its rabbitmq.conf)."""
    require_service(rabbitmq_available())
    with RabbitMQServer(consumer_timeout_ms=CONSUMER_TIMEOUT_MS) as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_a_delayed_task_held_past_consumer_timeout(
    name: str, short_timeout_node: RabbitMQServer, tmp_path: Path
) -> None:
    """A task scheduled ``HELD_S`` ahead is held unacknowledged by the worker that fetched it (Celery: ETA in the
    worker's memory; Dramatiq: the delay queue's consumer): past ``consumer_timeout`` the node closes that channel
    (PRECONDITION_FAILED, "delivery acknowledgement … timed out"). What each library does then is the finding."""
    backend = _backend(name)
    channel_dir, var_dir = tmp_path / "channel", tmp_path / "var"
    env = backend.environment(
        redis_url="redis://127.0.0.1:1/0", amqp_url=short_timeout_node.url, var_dir=var_dir, channel_dir=channel_dir
    ) | {"BENCH_QUEUE_MODULE": backend.queue_module}
    run_agent(backend, env, "prepare", {"demo": False})
    producer = ProducerClient(env, REPO, tmp_path / "producer.log")
    producer.call("purge")
    log_path = tmp_path / "worker.log"
    worker = ManagedProcess(
        backend.worker_argv(PROCESSES), env=env | backend.worker_env(PROCESSES), cwd=backend.project_dir,
        log_path=log_path, name=f"{name}-worker",
    ).start()  # fmt: skip
    try:
        watcher = ChannelWatcher(str(channel_dir))
        producer.call("produce_tracked", task="noop", args=[[]], prefix="ready-")
        assert watcher.wait_finished(["ready-0"], timeout_s=60, alive=worker.alive), worker.log_tail(10)
        sent = time.monotonic()
        producer.call("produce_delayed", task="noop", delay_s=HELD_S, count=2, prefix="late-")
        late = ["late-0", "late-1"]
        closed_at = None
        while time.monotonic() - sent < HELD_S + 30:
            text = log_path.read_text(errors="replace")
            if closed_at is None and "acknowledgement" in text and "timed out" in text:
                closed_at = time.monotonic() - sent
            if all(watcher.poll().finishes.get(p) for p in late) or not worker.alive():
                break
            time.sleep(1.0)
        log = watcher.poll()
        runs = [len(log.starts.get(p, ())) for p in late]
        # Channel times are CLOCK_MONOTONIC ns, as time.monotonic() on Linux.
        on_time = all(t >= (sent + 0.95 * HELD_S) * 1e9 for p in late for t in log.starts.get(p, ()))
        print(f"\n{name}: channel closed by consumer_timeout {closed_at:.0f} s after the send; worker alive: "
              f"{worker.alive()}; runs of the delayed tasks: {runs}")  # fmt: skip
        assert closed_at is not None and closed_at < HELD_S, "the node closes the holding channel before the ETA"
        if AFTER_CONSUMER_TIMEOUT[name] == "worker exits":
            assert not worker.alive() and "Unrecoverable error" in text and runs == [0, 0], (runs, worker.log_tail(5))
        else:  # the consumer reconnects, takes the returned messages again and runs each once, when due
            assert worker.alive() and runs == [1, 1] and on_time, runs
    finally:
        worker.stop(timeout=15)
        producer.close()


# ----------------------------------------------------------------------------------------------------------------------
# The fault suite on RabbitMQ, in the smoke run of every backend (tests/conftest.py starts it at collection)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # waits for the smoke run
@pytest.mark.parametrize("name", RABBITMQ_BACKENDS)
def test_smoke_run_faults_on_rabbitmq_are_proven_and_every_task_accounted_for(name: str, smoke_run: Path) -> None:
    """Each fault on the backend's own private node: the premise proven at the fault instant from the broker's view
    (locate), every task id in exactly one outcome; the node restarted, crashed (where the preset asks) and stopped
    at enqueue; publishing through a restart accounts for every call that returned."""
    results = load_results(smoke_run / "results.json")
    assert results.run.get("rabbitmq") == "private"
    faults = results.select(backend=name, scenario="faults")
    assert not [(r.params, r.status, r.error) for r in faults if not r.ok]
    kinds = {r.params["kind"] for r in faults}
    assert {"sigkill", "sigterm", "rabbitmq_restart", "rabbitmq_down_enqueue", "publish_during_restart"} <= kinds
    assert not kinds & {"redis_restart", "redis_down_enqueue"}, "a RabbitMQ backend's broker faults stop its node"
    for record in faults:
        if record.accounting is None:
            continue
        if record.params["kind"] not in ("long_delay", "publish_during_restart"):
            premise = record.notes["premise"]
            assert premise["met"] and premise["seen"]["running"] == {"running": 1}, premise
        ids = [p for bucket in record.accounting.values() for p in bucket]
        assert len(ids) == len(set(ids)) == record.values["tasks"]
        for bucket in OUTCOMES:
            assert len(record.accounting[bucket]) == record.values[bucket], (record.params, bucket)
        for probe in record.accounting["stranded"]:
            assert record.samples["stranded"][probe]["where"] in ("queued", "reserved", "scheduled")
    (published,) = results.select(backend=name, scenario="faults", params={"kind": "publish_during_restart"})
    values = published.values
    assert values["calls"] == values["raised"] + values["accepted"] > 0 and values["outage_s"] > 0
    assert sum(values[o] for o in OUTCOMES) == values["accepted"]
    (restart,) = results.select(backend=name, scenario="faults", params={"kind": "rabbitmq_restart"})
    assert restart.values["down_s"] > 0 and not restart.values["needs_manual_restart"], restart.values
    print(f"\n{name}: publish during restart {values}; restart {restart.values}")
