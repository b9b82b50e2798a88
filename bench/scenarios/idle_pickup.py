"""Idle pickup: single noops, each enqueued after the workers have been idle for a while (polling, back-off)."""

from __future__ import annotations

import time

from bench.scenarios.estimate import SETTLE_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession


def run(session: ScenarioSession) -> None:
    """``idle_pickup_samples`` single noops, each after the workers have been idle for the idle period."""
    assert session.producer is not None
    session.ensure_workers()
    count = session.preset.idle_pickup_samples
    for idle_s in session.preset.idle_pickup_s:
        pickups: list[int] = []
        for i in range(count):
            session.progress(f"{session.label}: idle pickup {idle_s:g} s, sample {i + 1}/{count}")
            time.sleep(idle_s)
            prefix = session.prefix("idle")
            sent = session.producer.call("single", task="noop", prefix=prefix)["sent_ns"]
            probe = f"{prefix}0"
            # Done (C) before the next idle period starts: the bookkeeping after the body is work too.
            if not session.drain([probe], timeout_s=60) or not session.watcher.log.starts.get(probe):
                break
            pickups.append(min(session.watcher.log.starts[probe]) - sent)
        ok = len(pickups) == count
        session.record(
            "idle_pickup",
            {"processes": session.processes, "idle_s": idle_s},
            values={"count": len(pickups)},
            samples={"pickup_ns": pickups},
            status="ok" if ok else "failed",
            error=None if ok else f"sample {len(pickups) + 1} did not run within 60 s",
        )


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return sum(preset.idle_pickup_s) * preset.idle_pickup_samples + SETTLE_S * len(preset.idle_pickup_s)
