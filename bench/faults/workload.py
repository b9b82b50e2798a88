"""The mixed fault workload: arranged on real workers, held by a gate, and proven before any fault fires.

``arm`` puts tasks into every state a fault can meet -- a gated long task in every worker process (``running``),
short tasks waiting behind them (``waiting``: in the broker or prefetched by a worker), tasks scheduled a few
seconds ahead with the library's own delayed API (``delayed``), and tasks whose first attempt failed and whose
retry is pending (``retrying``) -- and ``prove`` checks that state from the outside at the fault instant: the
channel says what ran, the backend's ``locate`` says where the rest is held.

The long tasks hold on a *gate* (a file in ``$SHOP_VAR_DIR/gates/``, outside every broker; ``shop.jobs.sleep``)
that the harness opens after the fault, so "every worker process is busy" is a state the harness controls rather
than a timing it hopes for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.contract import check_location
from bench.errors import BenchError
from bench.faults.outcomes import Premise, check_premise, state_at
from bench.faults.session import FaultSession

#: Seconds a gated task waits at most for its gate (a safety net: the harness opens every gate it closes).
GATE_MAX_S = 30.0
#: How far ahead the delayed tasks are scheduled: beyond the arming and the fault instant, within the window.
DELAY_S = 5.0
#: Gated tasks allowed beyond one per process when a library prefetches several into one process.
EXTRA_GATED_PER_PROCESS = 3


class Gate:
    """A named gate the gated ``sleep`` tasks wait on; :meth:`open` releases them."""

    def __init__(self, var_dir: Path, name: str) -> None:
        self.name = name
        self.path = Path(var_dir) / "gates" / name

    def open(self) -> None:
        """Release every task waiting on this gate (now and later ones)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()


@dataclass
class Armed:
    """An arranged workload: its gate, its tasks by category, and (after :func:`prove`) its premise."""

    gate: Gate
    categories: dict[str, list[str]]
    premise: Premise | None = None
    states: dict[str, str] = field(default_factory=dict)
    places: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def probes(self) -> list[str]:
        """Every task of the workload."""
        return [p for probes in self.categories.values() for p in probes]

    @property
    def at_risk(self) -> list[str]:
        """The tasks not finished at the fault instant (the ones a fault can affect)."""
        return [p for p in self.probes if self.states.get(p) != "finished"]


def _produce_tracked(session: FaultSession, task: str, args: list[list[Any]], prefix: str) -> list[str]:
    assert session.producer is not None
    session.producer.call("produce_tracked", task=task, args=args, prefix=prefix)
    return [f"{prefix}{i}" for i in range(len(args))]


def locate(session: FaultSession, probes: list[str]) -> dict[str, dict[str, Any]]:
    """The backend's own answer to "where is each of these tasks now?" (its queue module's ``locate``).

    A backend without the answer, or an answer that is not a location, raises ``BenchError``: a fault that cannot
    tell stranded from gone is recorded as failed, never ranked.
    """
    if not probes:
        return {}
    assert session.producer is not None
    answer = session.producer.call("locate", probes=probes)
    try:
        return {p: dict(check_location(answer[p])) for p in probes}
    except (KeyError, ValueError) as exc:
        raise BenchError(f"the backend's locate answer is unusable: {exc}") from exc


def _running_gated(session: FaultSession, gated: list[str]) -> tuple[list[str], set[int]]:
    """Gated tasks started and not finished, and the distinct worker pids running them."""
    log = session.watcher.poll()
    running = [p for p in gated if log.starts.get(p) and not log.finishes.get(p)]
    pids = {pid for p in running for pid in log.start_pids.get(p, ())}
    return running, pids


def arm(session: FaultSession, name: str) -> Armed:
    """Arrange the mixed workload on the running workers; the gate stays closed until the caller opens it."""
    preset = session.preset
    gate = Gate(session.var_dir, session.prefix(f"gate-{name}"))
    # Retrying first, while every process is free: each task fails its first attempt and its retry (1 s, the shop's
    # policy) becomes due while the gated tasks below hold every process. flaky's attempt counter is keyed by the
    # probe, unique in the session.
    prefix = session.prefix(f"{name}-retrying-")
    keys = [f"{prefix}{i}" for i in range(preset.retry_tasks)]
    retrying = _produce_tracked(session, "flaky_retry", [[key, 1] for key in keys], prefix)
    session.watcher.wait_for(retrying, ("errors", "finishes"), timeout_s=20)
    # Two gated tasks per process, then more, one every half second, while a process is still idle: a library that
    # prefetches several messages into one process (Dramatiq: 2 per process with one thread) would otherwise leave
    # another process idle, and that one would run the pending retries. The gated tasks that do not start wait like
    # the others (and finish at once when the gate opens).
    gated: list[str] = []

    def add_gated(count: int) -> None:
        args = [[GATE_MAX_S, gate.name] for _ in range(count)]
        gated.extend(_produce_tracked(session, "sleep", args, session.prefix(f"{name}-long-")))

    add_gated(2 * session.processes)
    limit = session.processes * (1 + EXTRA_GATED_PER_PROCESS)
    last_add = time.monotonic()
    deadline = last_add + 30
    while time.monotonic() < deadline:
        _running, pids = _running_gated(session, gated)
        if len(pids) >= session.processes:
            break
        if len(gated) < limit and time.monotonic() - last_add > 0.5:
            add_gated(1)
            last_add = time.monotonic()
        time.sleep(0.1)
    running, _pids = _running_gated(session, gated)
    extra = [p for p in gated if p not in running]
    delayed_prefix = session.prefix(f"{name}-delayed-")
    assert session.producer is not None
    session.producer.call(
        "produce_delayed", task="noop", delay_s=DELAY_S, count=preset.retry_tasks, prefix=delayed_prefix
    )
    delayed = [f"{delayed_prefix}{i}" for i in range(preset.retry_tasks)]
    waiting = _produce_tracked(session, "sleep", [[0.05]] * preset.queued_tasks, session.prefix(f"{name}-waiting-"))
    time.sleep(0.5)  # let workers that prefetch fetch what they will
    categories = {"running": running, "waiting": extra + waiting, "delayed": delayed, "retrying": retrying}
    return Armed(gate=gate, categories=categories)


def prove(session: FaultSession, armed: Armed, t_fault_ns: int, places: dict[str, dict[str, Any]]) -> Premise:
    """Check the arranged state at ``t_fault_ns`` from the channel (read after the fault: events before it are
    already written) and ``places`` (the backend's ``locate``, asked just before the fault)."""
    log = session.watcher.poll()
    armed.states = {
        p: state_at(t_fault_ns, log.starts.get(p, ()), log.finishes.get(p, ()), log.errors.get(p, ()))
        for p in armed.probes
    }
    armed.places = places
    running_pids = {
        pid for p in armed.categories["running"] if armed.states[p] == "running" for pid in log.start_pids.get(p, ())
    }
    armed.premise = check_premise(
        armed.categories,
        armed.states,
        {p: loc["where"] for p, loc in places.items()},
        running_pids,
        session.processes,
    )
    return armed.premise
