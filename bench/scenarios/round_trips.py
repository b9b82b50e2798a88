"""Round trips: request→response turns per enqueue and per task to Redis, PostgreSQL and RabbitMQ, counted by the
delay proxy.

A client that needs N round trips per enqueue or per task pays N × RTT, so this count is what makes a backend
sensitive to the network. Counted, not inferred: the proxy counts a turn each time bytes from the server follow
bytes from the client on one connection (pipelined commands are one turn, as they are one round trip).
"""

from __future__ import annotations

import time
from typing import Any

from bench.errors import BenchError
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession

#: Noops enqueued per phase: enough that one-off turns (a connection's handshake) weigh < 1 % per task.
TASKS = 100
#: How long the idle workers' background turns (polls, heartbeats) are counted, to subtract them from the task
#: phase.
IDLE_S = 2.0
#: Upstreams whose turns are counted (the SMTP hop has no turns in a noop).
UPSTREAMS = ("redis", "postgres", "amqp")


def _turns(session: ScenarioSession) -> dict[str, int]:
    assert session.path is not None
    turns = session.path.proxy.turns()
    return {u: turns.get(u, 0) for u in UPSTREAMS if u in turns}


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {u: after[u] - before.get(u, 0) for u in after}


def run(session: ScenarioSession) -> None:
    """Enqueue :data:`TASKS` noops with the workers stopped (turns per enqueue), count the idle workers' turns for
    :data:`IDLE_S`, then enqueue and drain :data:`TASKS` more with the workers running (turns per task = the
    phase's turns − the enqueues' − the idle rate × the phase's duration)."""
    if session.path is None:
        raise BenchError("round_trips needs a proxied network (--network lan, az, rtt=…)")
    assert session.producer is not None
    session.stop_workers()
    session.flush_broker()
    args: list[list[Any]] = [[] for _ in range(TASKS)]
    before = _turns(session)
    prefix = session.prefix("rtq")
    session.producer.call("produce", task="noop", args=args, prefix=prefix)
    enqueue = _delta(_turns(session), before)
    session.start_workers()  # its readiness noop runs now, not in a counted phase
    if not session.drain([f"{prefix}{i}" for i in range(TASKS)]):
        raise BenchError("round_trips: the enqueued noops did not finish")
    time.sleep(0.5)  # the drain's bookkeeping settles
    before = _turns(session)
    time.sleep(IDLE_S)
    idle = _delta(_turns(session), before)
    prefix = session.prefix("rtt")
    before = _turns(session)
    started = time.monotonic()
    session.producer.call("produce", task="noop", args=args, prefix=prefix)
    if not session.drain([f"{prefix}{i}" for i in range(TASKS)]):
        raise BenchError("round_trips: the counted noops did not finish")
    phase_s = time.monotonic() - started
    tasks = _delta(_turns(session), before)
    values: dict[str, float] = {"tasks": TASKS, "idle_s": IDLE_S, "task_phase_s": round(phase_s, 3)}
    for upstream in enqueue:
        idle_rate = idle.get(upstream, 0) / IDLE_S
        values[f"enqueue_{upstream}"] = enqueue[upstream] / TASKS
        values[f"task_{upstream}_raw"] = (tasks[upstream] - enqueue[upstream]) / TASKS
        values[f"task_{upstream}"] = max(0.0, (tasks[upstream] - enqueue[upstream] - idle_rate * phase_s) / TASKS)
        values[f"idle_{upstream}_per_s"] = idle_rate
    session.record("round_trips", {"task": "noop", "processes": session.processes}, values=values)


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return IDLE_S + 6.0
