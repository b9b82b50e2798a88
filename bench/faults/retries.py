"""The retry scenario: flaky tasks failing k times then succeeding, and failing forever, with the shop's retry policy
(written natively per backend) and with the library's defaults; attempts, gaps, and where an exhausted failure is
recorded. Whether a *pending* retry survives a worker or Redis restart is measured by the fault scenarios, whose
workloads include tasks waiting for their retry at the fault instant.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from bench.faults.session import FaultSession

#: The shop's retry policy, as every backend project implements it natively (ARCHITECTURE.md).
POLICY_MAX_RETRIES = 3
POLICY_DELAY_S = 1.0


def account(probes: list[str], finishes: dict[str, list[int]]) -> dict[str, list[str]]:
    """Each probe is completed (finished once), duplicated (more than once) or not finished within the window."""
    result: dict[str, list[str]] = {"completed": [], "duplicated": [], "unfinished": []}
    for probe in probes:
        n = len(finishes.get(probe, ()))
        result["unfinished" if n == 0 else "completed" if n == 1 else "duplicated"].append(probe)
    return result


def gaps_s(times_ns: list[int]) -> list[float]:
    """Seconds between consecutive attempt starts."""
    ordered = sorted(times_ns)
    return [(b - a) / 1e9 for a, b in itertools.pairwise(ordered)]


def _produce_flaky(session: FaultSession, task: str, fail_times: int, name: str) -> list[str]:
    """``retry_tasks`` flaky tasks whose attempt-counter key is their probe, with their library ids kept."""
    assert session.producer is not None
    prefix = session.prefix(name)
    probes = [f"{prefix}{i}" for i in range(session.preset.retry_tasks)]
    session.producer.call("produce_tracked", task=task, args=[[p, fail_times] for p in probes], prefix=prefix)
    return probes


def run_retries(session: FaultSession) -> None:
    """Flaky tasks failing twice then succeeding, and failing forever; policy and library defaults."""
    preset = session.preset
    session.start_workers()
    variants = [("flaky_retry", 2), ("flaky_retry", -1), ("flaky_default", 2), ("flaky_default", -1)]
    probes_by_variant = {
        (task, k): _produce_flaky(session, task, k, f"retry-{task}-{'forever' if k < 0 else k}-")
        for task, k in variants
    }
    # Failing-forever tasks never finish: observe the whole window.
    time.sleep(preset.retry_window_s)
    log = session.watcher.poll()
    for (task, k), probes in probes_by_variant.items():
        attempts = {p: sorted(log.starts.get(p, [])) for p in probes}
        all_gaps = [g for p in probes for g in gaps_s(attempts[p])]
        configured = POLICY_DELAY_S if task == "flaky_retry" else None
        # What the shop's policy promises; for library defaults there is no promise, only what was measured.
        expected_attempts = None
        if task == "flaky_retry":
            expected_attempts = k + 1 if k >= 0 else POLICY_MAX_RETRIES + 1
        errors = [g - configured for g in all_gaps] if configured is not None else []
        values: dict[str, Any] = {
            "window_s": preset.retry_window_s,
            "configured_delay_s": configured,
            "configured_max_retries": POLICY_MAX_RETRIES if task == "flaky_retry" else None,
            "attempts_min": min((len(a) for a in attempts.values()), default=0),
            "attempts_max": max((len(a) for a in attempts.values()), default=0),
            "expected_attempts": expected_attempts,
            "succeeded": sum(1 for p in probes if log.finishes.get(p)),
            "tasks": len(probes),
            "gap_mean_s": sum(all_gaps) / len(all_gaps) if all_gaps else None,
            "gap_min_s": min(all_gaps, default=None),
            "gap_max_s": max(all_gaps, default=None),
            "gap_error_mean_s": sum(errors) / len(errors) if errors else None,
            "gap_error_max_s": max((abs(e) for e in errors), default=None),
        }
        if k < 0 and task == "flaky_retry":
            # Not more attempts than the policy allows (fewer is a different failure: see attempts_min).
            values["max_not_exceeded"] = values["attempts_max"] <= POLICY_MAX_RETRIES + 1
        session.record(
            "retries",
            {"task": task, "fail_times": k},
            values=values,
            samples={"attempt_times_ns": {p: attempts[p] for p in probes}, "gaps_s": all_gaps},
            accounting=account(probes, log.finishes),
        )
    for task in ("flaky_retry", "flaky_default"):
        _failure_visibility(session, task, probes_by_variant[(task, -1)])
    session.stop_workers()


def _failure_visibility(session: FaultSession, task: str, probes: list[str]) -> None:
    """Where an exhausted task's failure is recorded, as the backend's own API reports it (dead letters…)."""
    assert session.producer is not None
    answer = session.producer.call("failure_visibility", probes=probes)
    session.record(
        "retries",
        {"task": task, "fail_times": -1, "check": "exhausted_visibility"},
        values={"visible": answer.get("visible"), "window_s": session.preset.retry_window_s},
        notes={"where": answer.get("where"), "detail": answer.get("detail")},
    )
