"""Enqueue: the producer-side cost of one enqueue call per task type, with no worker running.

Records ``enqueue`` (an HDR histogram per task type) and, when the preset asks, ``enqueue_microbench`` (a
pytest-benchmark run of the noop enqueue, its JSON kept beside the results; ``bench/microbench.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.scenarios.estimate import ENQUEUE_CALL_S, MICROBENCH_S, SETTLE_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.services.hosts import on_app_host

REPO = Path(__file__).resolve().parent.parent.parent


def run(session: ScenarioSession) -> None:
    """Producer cost per enqueue call, no workers running; the queue is flushed afterwards."""
    assert session.producer is not None
    preset = session.preset
    for task in preset.enqueue_tasks:
        if task not in session.backend.tasks:
            continue
        t0 = time.monotonic()
        args = session.producer.call("sample_args", task=task, count=preset.enqueue_count)["args"]
        answer = session.producer.call("enqueue_latency", task=task, args=args, prefix=session.prefix("enq"))
        session.record(
            "enqueue",
            {"task": task},
            histograms={"latency_ns": answer["histogram"]},
            values={"count": answer["count"]},
            duration_s=round(time.monotonic() - t0, 3),
        )
        session.flush_broker()
    if preset.microbench and "noop" in session.backend.tasks:
        session.record("enqueue_microbench", {"task": "noop"}, **microbench(session))
        session.flush_broker()


def microbench(session: ScenarioSession) -> dict[str, Any]:
    """pytest-benchmark of the noop enqueue call; its JSON is kept beside the results."""
    out = session.out_dir / "pytest-benchmark" / f"{session.backend.name}-{session.profile}-r{session.repetition}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "pytest", str(REPO / "bench" / "microbench.py"), "-q", "-p", "no:django",
        "-p", "no:cacheprovider", f"--benchmark-json={out}", "--benchmark-min-rounds=200",
        "--benchmark-max-time=2", "--benchmark-disable-gc",
    ]  # fmt: skip
    argv = on_app_host(session.env, cmd)  # the enqueue call is the app's: on its host with --hosts netns
    done = subprocess.run(argv, cwd=REPO, env=session.env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
        return {"status": "failed", "error": "pytest-benchmark failed: " + " | ".join(tail)}
    data = json.loads(out.read_text())
    bench_stats = data["benchmarks"][0]["stats"]
    return {
        "values": {f"{k}_s": bench_stats[k] for k in ("min", "median", "mean", "stddev")}
        | {"rounds": bench_stats["rounds"]},
        "samples": {"json": [str(out.relative_to(session.out_dir))]},
    }


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    per_task = preset.enqueue_count * ENQUEUE_CALL_S + SETTLE_S
    enqueued = [t for t in preset.enqueue_tasks if t in tasks]
    return len(enqueued) * per_task + (MICROBENCH_S if preset.microbench and "noop" in tasks else 0.0)
