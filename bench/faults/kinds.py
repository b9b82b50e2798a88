"""The faults: worker SIGKILL and SIGTERM, Redis restart (no persistence / AOF) and crash, Redis down at enqueue.

Each fault run is: arm the mixed workload (``workload.arm``) → prove the premise just before the fault → fire →
open the gate → restart what the fault stopped → observe for the preset's window → ask the backend where every
unfinished task is → one outcome per task (``outcomes``) → optionally keep watching the stranded tasks the library
would hand back within the preset's ``eventual_window_s`` (library defaults, eventually) → one record per fault.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from typing import Any

from bench.errors import BenchError
from bench.faults.outcomes import classify, state_at
from bench.faults.session import FaultSession
from bench.faults.transactions import run_transactions
from bench.faults.workload import Armed, arm, locate, prove
from bench.services import RedisServer

#: Arming attempts before a fault is recorded as ``premise_not_met``.
ARM_ATTEMPTS = 2


def run_faults(session: FaultSession) -> None:
    """Every fault of the preset, one record each."""
    for kind in ("sigkill", "sigterm"):
        _fault(session, {"kind": kind}, _worker_fault(kind))
    if session.preset.long_delay_s > 0:
        _long_delay(session)
    if session.has_database:
        run_transactions(session)
    if isinstance(session.redis, RedisServer):
        for persistence in session.preset.redis_persistence:
            _with_persistence(
                session,
                persistence,
                lambda p=persistence: _fault(
                    session, {"kind": "redis_restart", "persistence": p}, _redis_fault(crash=False)
                ),
            )
        if session.preset.redis_crash:
            # A crash (SIGKILL) with AOF everysec: up to a second of writes is not on disk yet.
            _with_persistence(
                session,
                "aof",
                lambda: _fault(session, {"kind": "redis_crash", "persistence": "aof"}, _redis_fault(crash=True)),
            )
        _redis_down_enqueue(session)
    else:
        for persistence in session.preset.redis_persistence:
            session.record(
                "faults",
                {"kind": "redis_restart", "persistence": persistence},
                status="failed",
                error="needs a private Redis (not run with --redis-url)",
            )


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


def _redis_fault(*, crash: bool) -> Fire:
    """Stop (SIGTERM: Redis flushes its AOF) or crash (SIGKILL) the private Redis, keep it down, start it again."""

    def fire(session: FaultSession, armed: Armed) -> dict[str, Any]:
        redis = session.redis
        assert isinstance(redis, RedisServer)
        if crash:
            redis.kill()
        else:
            redis.stop()
        time.sleep(session.preset.redis_down_s)
        redis.start()
        armed.gate.open()
        recovered_s = _wait_recovered(session)
        manual_restart = recovered_s is None
        if manual_restart:
            session.stop_workers()
            session.start_workers()
            recovered_s = _wait_recovered(session)
        return {
            "down_s": session.preset.redis_down_s,
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


def _redis_down_enqueue(session: FaultSession) -> None:
    """What the producer call (and the shop view's ``submit``) does while Redis is down."""
    redis = session.redis
    assert isinstance(redis, RedisServer) and session.producer is not None
    redis.stop()
    try:
        answer = session.producer.call(
            "enqueue_while_down", task="noop", timeout_s=session.preset.down_enqueue_timeout_s
        )
    finally:
        redis.start()
    session.record(
        "faults",
        {"kind": "redis_down_enqueue"},
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
