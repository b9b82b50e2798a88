"""Enqueue inside a database transaction that commits late or rolls back: does the task run before its row exists,
or for a row that never will? And what does deferring the enqueue with ``transaction.on_commit`` change?

A Django view under ``ATOMIC_REQUESTS`` (or any code inside ``atomic()``) that creates an order and enqueues its
invoice task hands the broker a task id before the order is committed. Each backend is asked the same thing
through its own enqueue call; the outcome is read from the channel (did the task start before the commit, did its
attempt raise — the order was not visible — or finish) and recorded per mode. A backend that stores its queue in the
same database (``django.tasks`` with a database backend) makes the enqueue part of the transaction: measured too.
"""

from __future__ import annotations

import time
from typing import Any

from bench.faults.session import FaultSession

#: How long the transaction stays open after the enqueue (a slow view, a long request).
HOLD_S = 1.0
#: Observation after the transaction ended: the task's first attempt and a retry would show within it.
OBSERVE_S = 5.0
MODES = ("commit_late", "rollback", "on_commit_late", "on_commit_rollback")


def run_transactions(session: FaultSession) -> None:
    """One record per mode (``faults`` scenario, ``kind = transaction``)."""
    session.start_workers()
    try:
        for mode in MODES:
            _one(session, mode)
    finally:
        session.stop_workers()


def _one(session: FaultSession, mode: str) -> None:
    assert session.producer is not None
    answer = session.producer.call(
        "enqueue_in_transaction", mode=mode, prefix=session.prefix(f"tx-{mode}-"), hold_s=HOLD_S
    )
    probe = answer["probe"]
    deadline = time.monotonic() + OBSERVE_S
    while time.monotonic() < deadline:
        log = session.watcher.poll()
        if log.finishes.get(probe):
            break
        time.sleep(0.05)
    log = session.watcher.poll()
    starts, errors, finishes = log.starts.get(probe, []), log.errors.get(probe, []), log.finishes.get(probe, [])
    end = answer["transaction_end_ns"]
    enqueued = answer.get("enqueued_ns")
    values: dict[str, Any] = {
        "committed": answer["committed"],
        "enqueued": enqueued is not None,
        "attempts": len(starts),
        "started_before_transaction_end": any(t < end for t in starts),
        "failed_attempts": len(errors),
        "succeeded": bool(finishes),
        "first_start_after_enqueue_s": (min(starts) - enqueued) / 1e9 if starts and enqueued else None,
        "hold_s": HOLD_S,
        "window_s": OBSERVE_S,
    }
    session.record("faults", {"kind": "transaction", "mode": mode}, values=values)
