"""The faults: worker SIGKILL and SIGTERM; the broker's: Redis restart (no persistence / AOF) and crash, Redis down at
enqueue, or, for a backend on RabbitMQ, the node's restart and crash, the node down at enqueue, and publishing while
it restarts.

Each fault run is: arm the mixed workload (``workload.arm``) → prove the premise just before the fault → fire →
open the gate → restart what the fault stopped → observe for the preset's window → ask the backend where every
unfinished task is → one outcome per task (``outcomes``) → optionally keep watching the stranded tasks the library
would hand back within the preset's ``eventual_window_s`` (library defaults, eventually) → one record per fault.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.errors import BenchError
from bench.faults.outcomes import classify, state_at
from bench.faults.session import FaultSession
from bench.faults.transactions import run_transactions
from bench.faults.workload import Armed, arm, locate, prove
from bench.services import RabbitMQServer, RedisServer

#: Arming attempts before a fault is recorded as ``premise_not_met``.
ARM_ATTEMPTS = 2
#: The safe profile's ``consumer_timeout`` on a RabbitMQ node, for the long-delay fault: the same 10 s as its
#: shortened Redis visibility timeout. RabbitMQ's default, for the record of an unshortened node.
SAFE_CONSUMER_TIMEOUT_MS = 10_000
DEFAULT_CONSUMER_TIMEOUT_MS = 1_800_000


def run_faults(session: FaultSession) -> None:
    """Every fault of the preset, one record each."""
    for kind in ("sigkill", "sigterm"):
        _fault(session, {"kind": kind}, _worker_fault(kind))
    if session.preset.long_delay_s > 0:
        _long_delay(session)
        if isinstance(session.rabbitmq, RabbitMQServer) and session.profile == "safe":
            _long_task(session)
    if session.has_database:
        run_transactions(session)
    if session.rabbitmq is not None:
        _rabbitmq_faults(session)
    elif isinstance(session.redis, RedisServer):
        for persistence in session.preset.redis_persistence:
            _with_persistence(
                session,
                persistence,
                lambda p=persistence: _fault(
                    session, {"kind": "redis_restart", "persistence": p}, _broker_fault(crash=False)
                ),
            )
        if session.preset.redis_crash:
            # A crash (SIGKILL) with AOF everysec: up to a second of writes is not on disk yet.
            _with_persistence(
                session,
                "aof",
                lambda: _fault(session, {"kind": "redis_crash", "persistence": "aof"}, _broker_fault(crash=True)),
            )
        _broker_down_enqueue(session, "redis_down_enqueue")
    else:
        for persistence in session.preset.redis_persistence:
            session.record(
                "faults",
                {"kind": "redis_restart", "persistence": persistence},
                status="failed",
                error="needs a private Redis (not run with --redis-url)",
            )


def _rabbitmq_faults(session: FaultSession) -> None:
    """The broker faults of a backend on RabbitMQ, on the session's private node (never a user's broker): durable
    queues and persistent messages are what survive a restart, so there is no persistence mode to choose."""
    if not isinstance(session.rabbitmq, RabbitMQServer):
        for kind in ("rabbitmq_restart", "rabbitmq_crash", "rabbitmq_down_enqueue", "publish_during_restart"):
            session.record(
                "faults",
                {"kind": kind},
                status="failed",
                error="needs a private RabbitMQ node (not run with --amqp-url)",
            )
        return
    _fault(session, {"kind": "rabbitmq_restart"}, _broker_fault(crash=False))
    if session.preset.redis_crash:
        _fault(session, {"kind": "rabbitmq_crash"}, _broker_fault(crash=True))
    _publish_during_restart(session)
    _broker_down_enqueue(session, "rabbitmq_down_enqueue")


def _with_persistence(session: FaultSession, persistence: str, run: Callable[[], None]) -> None:
    """Run a Redis fault with the session's private Redis restarted in the wanted persistence mode, then back."""
    redis = session.redis
    assert isinstance(redis, RedisServer)
    session.stop_workers()
    redis.stop()
    redis.appendonly = persistence == "aof"
    redis.start()
    # An AOF file left by an earlier session on this data directory (another profile's faults) must not replay its
    # stale tasks into this one.
    redis.flushall()
    try:
        run()
    finally:
        session.stop_workers()
        redis.stop()
        redis.appendonly = False
        redis.start()


# -- one fault ----------------------------------------------------------------------------------------------------
Fire = Callable[[FaultSession, Armed], dict[str, Any]]


def _fault(session: FaultSession, params: dict[str, Any], fire: Fire) -> None:
    """Arm, prove, fire, observe, classify and record one fault."""
    name = "-".join(str(v) for v in params.values())
    armed: Armed | None = None
    try:
        for attempt in range(1, ARM_ATTEMPTS + 1):
            session.start_workers()
            armed = arm(session, name)
            unfinished = [p for p in armed.probes if not session.watcher.poll().finishes.get(p)]
            places = locate(session, unfinished)
            premise = prove(session, armed, time.monotonic_ns(), places)
            if premise.met:
                break
            _disarm(session, armed)
            if attempt == ARM_ATTEMPTS:
                session.record(
                    "faults",
                    params,
                    status="premise_not_met",
                    error="; ".join(premise.problems)[:500],
                    values={"tasks": len(armed.probes), "arming_attempts": attempt},
                    notes={"premise": premise.as_note()},
                )
                return
        assert armed is not None and armed.premise is not None
        t_fault = time.monotonic_ns()
        fault_values = fire(session, armed)
        # States at the fault instant itself (the proof above was read a moment before).
        log = session.watcher.poll()
        armed.states = {
            p: state_at(t_fault, log.starts.get(p, ()), log.finishes.get(p, ()), log.errors.get(p, ()))
            for p in armed.probes
        }
        _observe(session, armed.probes, session.preset.fault_window_s)
        _record_outcome(session, params, armed, t_fault, fault_values)
    except BenchError as exc:
        if armed is not None:
            armed.gate.open()
        session.record("faults", params, status="failed", error=str(exc)[:500])
    finally:
        if armed is not None:
            armed.gate.open()
        session.stop_workers()


def _disarm(session: FaultSession, armed: Armed) -> None:
    """Release a workload whose premise failed, let its tasks drain, and stop the workers for a fresh attempt."""
    armed.gate.open()
    session.watcher.wait_finished(armed.categories["running"] + armed.categories["waiting"], timeout_s=15)
    session.stop_workers()


def _observe(session: FaultSession, probes: list[str], window_s: float) -> None:
    """Read the channel for ``window_s``, or until every probe finished (plus a moment for late duplicates)."""
    deadline = time.monotonic() + window_s
    while time.monotonic() < deadline:
        log = session.watcher.poll()
        if all(log.finishes.get(p) for p in probes):
            time.sleep(0.5)
            session.watcher.poll()
            return
        time.sleep(0.05)


def _record_outcome(
    session: FaultSession, params: dict[str, Any], armed: Armed, t_fault: int, fault_values: dict[str, Any]
) -> None:
    """Classify every task after the window (and, for library defaults, after the eventual window) and record it."""
    preset = session.preset
    log = session.watcher.poll()
    unfinished = [p for p in armed.probes if not log.finishes.get(p)]
    locations = locate(session, unfinished)
    unknown = [p for p, loc in locations.items() if loc["where"] == "unknown"]
    if unknown:
        raise BenchError(f"{len(unknown)} task(s) could not be located: {locations[unknown[0]]['detail']}"[:300])
    result = classify(armed.categories, log.finishes, locations, at_risk=armed.at_risk)
    values: dict[str, Any] = {
        "tasks": len(armed.probes),
        "at_risk": len(armed.at_risk),
        "window_s": preset.fault_window_s,
        **result.values(armed.categories),
        **fault_values,
    }
    # Redelivery of the interrupted tasks: their first start after the fault.
    redelivery = [
        (min(t for t in log.starts[p] if t > t_fault) - t_fault) / 1e9
        for p in armed.categories["running"]
        if any(t > t_fault for t in log.starts.get(p, ()))
    ]
    values.update(
        interrupted_rerun=len(redelivery),
        redelivery_s=min(redelivery, default=None),
        redelivery_s_max=max(redelivery, default=None),
    )
    samples: dict[str, Any] = {"stranded": result.stranded, "redelivery_s": redelivery}
    due = [s["returns_in_s"] for s in result.stranded.values() if s.get("returns_in_s") is not None]
    eventual = preset.eventual_window_s
    if session.profile != "safe" and eventual > 0 and due and min(due) <= eventual:
        # Library defaults, eventually: keep watching the stranded tasks due within the eventual window.
        # The whole eventual window (it ends early once every watched task finished): a due time is the library's
        # earliest, and some come later (django-q2's scheduler pass, Dramatiq's random maintenance).
        watched = [
            p for p, s in result.stranded.items() if s.get("returns_in_s") is not None and s["returns_in_s"] <= eventual
        ]
        horizon = eventual
        _observe(session, watched, horizon)
        log = session.watcher.poll()
        came_back = [p for p in watched if log.finishes.get(p)]
        values.update(
            eventual_window_s=horizon,
            eventually_watched=len(watched),
            eventually_completed=len(came_back),
            eventually_s_max=max(((min(log.finishes[p]) - t_fault) / 1e9 for p in came_back), default=None),
        )
    assert armed.premise is not None
    session.record(
        "faults",
        params,
        values=values,
        samples=samples,
        notes={"premise": armed.premise.as_note(), "stranded_rule": "; ".join(result.rules()) or None},
        accounting=result.by_outcome,
    )


# -- the faults themselves ----------------------------------------------------------------------------------------
def _worker_fault(kind: str) -> Fire:
    """SIGKILL (the whole worker tree, as a crash or an OOM kill of the container) or SIGTERM (to the worker's main
    process, as systemd/Docker/Kubernetes stop it) while every process is inside a gated task."""

    def fire(session: FaultSession, armed: Armed) -> dict[str, Any]:
        workers = session.workers
        assert workers is not None
        t_signal = time.monotonic()
        if kind == "sigkill":
            workers.kill()
            armed.gate.open()
            shutdown_s = 0.0
        else:
            workers.send_signal(signal.SIGTERM, group=False)
            # The interrupted tasks "had long_task_s left": the gate opens then, whether or not the worker waits.
            with contextlib.suppress(Exception):
                workers.wait(timeout=session.preset.long_task_s)
            armed.gate.open()
            with contextlib.suppress(Exception):
                workers.wait(timeout=30)
            shutdown_s = time.monotonic() - t_signal
            workers.stop(timeout=1)
        session.workers = None
        session.start_workers()
        return {"shutdown_s": shutdown_s}

    return fire


def _broker_node(session: FaultSession) -> RedisServer | RabbitMQServer:
    """The private broker a fault stops: the session's RabbitMQ node for a backend on RabbitMQ, else its Redis."""
    node = session.rabbitmq if session.rabbitmq is not None else session.redis
    assert isinstance(node, RedisServer | RabbitMQServer), "broker faults need a private broker"
    return node


def _broker_fault(*, crash: bool) -> Fire:
    """Stop (SIGTERM: Redis flushes its AOF, RabbitMQ shuts down cleanly) or crash (SIGKILL) the private broker, keep
    it down for the preset's ``redis_down_s``, start it again."""

    def fire(session: FaultSession, armed: Armed) -> dict[str, Any]:
        node = _broker_node(session)
        t0 = time.monotonic()
        if crash:
            node.kill()
        else:
            node.stop()
        time.sleep(session.preset.redis_down_s)
        node.start()
        down_s = time.monotonic() - t0  # a RabbitMQ node takes seconds to stop and start: the real outage
        armed.gate.open()
        recovered_s = _wait_recovered(session)
        manual_restart = recovered_s is None
        if manual_restart:
            session.stop_workers()
            session.start_workers()
            recovered_s = _wait_recovered(session)
        return {
            "down_s": round(down_s, 3) if isinstance(node, RabbitMQServer) else session.preset.redis_down_s,
            "reconnect_s": recovered_s,
            "needs_manual_restart": manual_restart,
        }

    return fire


def _wait_recovered(session: FaultSession, timeout_s: float = 60.0) -> float | None:
    """After a Redis restart: enqueue a noop every 0.5 s until one finishes; seconds until then, else None."""
    assert session.producer is not None
    start = time.monotonic()
    sent: list[str] = []
    while time.monotonic() - start < timeout_s:
        prefix = session.prefix("recover")
        try:
            session.producer.call("produce", task="noop", args=[[]], prefix=prefix)
            sent.append(f"{prefix}0")
        except BenchError:
            pass  # the producer may still see the outage: try again
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            log = session.watcher.poll()
            if any(log.finishes.get(p) for p in sent):
                return time.monotonic() - start
            time.sleep(0.02)
    return None


def _long_delay(session: FaultSession) -> None:
    """Tasks scheduled further ahead than the safe profile's 10-s redelivery timeout: do they run once?

    Celery's Redis transport keeps an ETA message reserved (unacked) in the worker until it is due; one held longer
    than the visibility timeout is restored to the queue and may be delivered again (Celery's docs warn about ETA
    beyond the visibility timeout). Every backend is asked the same question; nothing is faulted here.
    """
    preset = session.preset
    assert session.producer is not None
    node = session.rabbitmq
    # On RabbitMQ a worker holds a delayed message unacknowledged until it is due; the node closes the channel of a
    # consumer that holds one longer than consumer_timeout (30 min by default). The safe profile shortens it on the
    # session's own node, as it shortens Redis visibility timeouts, so the delay outlasts it; shipped keeps it.
    shorten = isinstance(node, RabbitMQServer) and session.profile == "safe"
    if shorten:
        assert isinstance(node, RabbitMQServer)
        node.consumer_timeout_ms = SAFE_CONSUMER_TIMEOUT_MS
        node.restart()
    session.start_workers()
    try:
        prefix = session.prefix("long-delay-")
        session.producer.call(
            "produce_delayed", task="noop", delay_s=preset.long_delay_s, count=preset.retry_tasks, prefix=prefix
        )
        probes = [f"{prefix}{i}" for i in range(preset.retry_tasks)]
        t0 = time.monotonic_ns()
        _observe(session, probes, preset.long_delay_s + preset.fault_window_s)
        log = session.watcher.poll()
        unfinished = [p for p in probes if not log.finishes.get(p)]
        locations = locate(session, unfinished)
        result = classify({"delayed": probes}, log.finishes, locations)
        runs = [len(log.starts.get(p, ())) for p in probes]
        early = [p for p in probes if any(t - t0 < preset.long_delay_s * 1e9 * 0.95 for t in log.starts.get(p, ()))]
        session.record(
            "faults",
            {"kind": "long_delay", "delay_s": preset.long_delay_s},
            values={
                "tasks": len(probes),
                **result.values({"delayed": probes}),
                "runs_max": max(runs, default=0),
                "started_early": len(early),
                "window_s": preset.long_delay_s + preset.fault_window_s,
                **(
                    {"consumer_timeout_ms": node.consumer_timeout_ms or DEFAULT_CONSUMER_TIMEOUT_MS}
                    if isinstance(node, RabbitMQServer)
                    else {}
                ),
            },
            samples={"stranded": result.stranded},
            accounting=result.by_outcome,
        )
    except BenchError as exc:
        session.record(
            "faults", {"kind": "long_delay", "delay_s": preset.long_delay_s}, status="failed", error=str(exc)
        )
    finally:
        session.stop_workers()
        if shorten:
            assert isinstance(node, RabbitMQServer)
            node.consumer_timeout_ms = None
            node.restart()


def _long_task(session: FaultSession) -> None:
    """A task that runs longer than the node's ``consumer_timeout`` while its message is unacknowledged (the safe
    profile acknowledges after the task: Celery acks_late, Dramatiq always): the node closes the worker's channel
    and requeues the message. Does the task run again, and does the worker carry on? On the session's own node, with
    ``consumer_timeout`` shortened to :data:`SAFE_CONSUMER_TIMEOUT_MS` for it (RabbitMQ's default is 30 min)."""
    node = session.rabbitmq
    assert isinstance(node, RabbitMQServer) and session.producer is not None
    preset = session.preset
    timeout_s = SAFE_CONSUMER_TIMEOUT_MS / 1000
    run_s = timeout_s + 5.0  # past the timeout and the node's 1-s check of it
    params = {"kind": "long_task", "run_s": run_s}
    node.consumer_timeout_ms = SAFE_CONSUMER_TIMEOUT_MS
    node.restart()
    try:
        session.start_workers()
        prefix = session.prefix("long-task-")
        session.producer.call("produce_tracked", task="sleep", args=[[run_s]], prefix=prefix)
        probes = [f"{prefix}0"]
        t0 = time.monotonic_ns()
        # The whole window, also after the first finish: a redelivered copy starts when the first run ends.
        time.sleep(2 * run_s + preset.fault_window_s)
        log = session.watcher.poll()
        unfinished = [p for p in probes if not log.finishes.get(p)]
        locations = locate(session, unfinished)
        result = classify({"long": probes}, log.finishes, locations)
        starts = [(t - t0) / 1e9 for t in log.starts.get(probes[0], ())]
        workers = session.workers
        session.record(
            "faults",
            params,
            values={
                "tasks": len(probes),
                **result.values({"long": probes}),
                "runs_max": len(starts),
                "second_start_s": round(starts[1], 3) if len(starts) > 1 else None,
                "workers_alive": bool(workers is not None and workers.alive()),
                "consumer_timeout_ms": SAFE_CONSUMER_TIMEOUT_MS,
                "window_s": 2 * run_s + preset.fault_window_s,
            },
            samples={"stranded": result.stranded, "start_s": starts},
            accounting=result.by_outcome,
        )
    except BenchError as exc:
        session.record("faults", params, status="failed", error=str(exc)[:500])
    finally:
        session.stop_workers()
        node.consumer_timeout_ms = None
        node.restart()


def _broker_down_enqueue(session: FaultSession, kind: str) -> None:
    """What the producer call (and the shop view's ``submit``) does while the private broker is down."""
    node = _broker_node(session)
    assert session.producer is not None
    node.stop()
    try:
        answer = session.producer.call(
            "enqueue_while_down", task="noop", timeout_s=session.preset.down_enqueue_timeout_s
        )
    finally:
        node.start()
    session.record(
        "faults",
        {"kind": kind},
        values={
            "call_s": answer["seconds"],
            "raised": answer["raised"],
            "blocked": answer["blocked"],
            "view_seconds": answer.get("view_seconds"),
            "timeout_s": session.preset.down_enqueue_timeout_s,
        },
        notes={
            "exception": answer.get("exception"),
            "message": answer.get("message"),
            "view_outcome": answer.get("view_outcome"),
        },
    )


#: Publishing during a broker restart: one noop every this many seconds, from before the stop until after the start.
PUBLISH_INTERVAL_S = 0.05


def _publish_during_restart(session: FaultSession) -> None:
    """Enqueue a noop every :data:`PUBLISH_INTERVAL_S` while the private broker is stopped and started again (the
    profile decides whether the library waits for publisher confirms: safe does): how many calls raised, and of those
    that returned, how many ran, are still held, or are gone (accepted by the call, lost by the broker: silently)."""
    node = _broker_node(session)
    assert session.producer is not None
    producer = session.producer
    params = {"kind": "publish_during_restart"}
    base = session.prefix("publish-")
    calls: list[dict[str, Any]] = []
    done = threading.Event()

    def publish() -> None:
        i = 0
        while not done.is_set():
            prefix = f"{base}{i}-"
            t0 = time.monotonic()
            error = None
            try:
                producer.call("produce", task="noop", args=[[]], prefix=prefix)
            except BenchError as exc:
                error = str(exc)[:200]
            calls.append({"probe": f"{prefix}0", "at_s": t0, "call_s": time.monotonic() - t0, "error": error})
            i += 1
            time.sleep(PUBLISH_INTERVAL_S)

    session.start_workers()
    publisher = threading.Thread(target=publish, name="publish-during-restart", daemon=True)
    try:
        publisher.start()
        time.sleep(1.0)
        t_stop = time.monotonic()
        node.stop()
        time.sleep(session.preset.redis_down_s)
        node.start()
        t_up = time.monotonic()
        time.sleep(1.0)
        done.set()
        publisher.join(timeout=session.preset.down_enqueue_timeout_s + 30)
        if publisher.is_alive():
            raise BenchError("a publish call did not return within the enqueue timeout + 30 s after the restart")
        _wait_recovered(session)
        accepted = [c["probe"] for c in calls if c["error"] is None]
        _observe(session, accepted, session.preset.fault_window_s)
        log = session.watcher.poll()
        unfinished = [p for p in accepted if not log.finishes.get(p)]
        locations = locate(session, unfinished)
        unknown = [p for p, loc in locations.items() if loc["where"] == "unknown"]
        if unknown:
            raise BenchError(f"{len(unknown)} task(s) could not be located: {locations[unknown[0]]['detail']}"[:300])
        result = classify({"accepted": accepted}, log.finishes, locations)
        during = [c for c in calls if t_stop <= c["at_s"] + c["call_s"] and c["at_s"] <= t_up]
        session.record(
            "faults",
            params,
            values={
                "calls": len(calls),
                "calls_during_outage": len(during),
                "raised": sum(c["error"] is not None for c in calls),
                "accepted": len(accepted),
                "tasks": len(accepted),
                **result.values({"accepted": accepted}),
                "outage_s": round(t_up - t_stop, 3),
                "call_s_max": round(max((c["call_s"] for c in calls), default=0.0), 3),
                "window_s": session.preset.fault_window_s,
            },
            samples={"stranded": result.stranded},
            notes={"errors": sorted({c["error"] for c in calls if c["error"]})[:5]},
            accounting=result.by_outcome,
        )
    except BenchError as exc:
        session.record("faults", params, status="failed", error=str(exc)[:500])
    finally:
        done.set()
        if not node.alive():
            node.start()
        session.stop_workers()
