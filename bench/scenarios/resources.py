"""Resources: worker-tree memory idle and under load, CPU seconds per 1,000 tasks.

It has no run of its own: the throughput scenario samples the worker tree on a fixed grid while it drains the noop
backlog and hands the readings to :func:`record` (one drain, two scenarios).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.scenarios.session import ScenarioSession
from bench.services import usage

#: Idle memory readings after a drain (one every ``resource_interval_s``).
IDLE_SAMPLES = 5


def record(session: ScenarioSession, load: dict[str, Any], done: int) -> None:
    """RSS/PSS under load (the samples of the backlog drain) and idle (sampled after 1 s without work)."""
    if "resources" not in session.scenarios or session.workers is None:
        return
    time.sleep(1.0)  # let the workers go idle before the idle memory reading
    idle_rss: list[int] = []
    idle_pss: list[int] = []
    for _ in range(IDLE_SAMPLES):
        reading = usage(session.workers.tree())
        idle_rss.append(reading.rss_bytes)
        idle_pss.append(reading.pss_bytes)
        time.sleep(session.preset.resource_interval_s)
    rss, pss = load["rss"], load["pss"]
    session.record(
        "resources",
        {"processes": session.processes},
        values={
            "rss_idle_bytes": statistics.median(idle_rss),
            "pss_idle_bytes": statistics.median(idle_pss),
            "rss_load_bytes": max(rss, default=0),
            "pss_load_bytes": max(pss, default=0),
            "rss_load_median_bytes": statistics.median(rss) if rss else None,
            "pss_load_median_bytes": statistics.median(pss) if pss else None,
            "load_samples": len(rss),
            "idle_samples": len(idle_rss),
            "sample_interval_s": session.preset.resource_interval_s,
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
