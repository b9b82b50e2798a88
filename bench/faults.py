"""Retry and fault scenarios: what each backend really does when tasks fail, workers die and Redis goes away.

Everything is measured, nothing assumed: the attempts of a task are its ``S`` events on the measurement channel
(which survives a worker SIGKILL and a Redis outage), and every task id enqueued in a fault scenario ends up in
exactly one of *completed* (finished once), *duplicated* (finished more than once) or *lost* (never finished within
the observation window). Timeouts are shortened only through configuration (the ``safe`` profile with
``SHOP_FAST_FAULTS=1``), never by patching a library.

The scenarios are methods of :class:`FaultScenarios`, a mixin of :class:`bench.runner.Session`.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bench.errors import BenchError

if TYPE_CHECKING:
    from bench.channel_wait import ChannelWatcher
    from bench.runner import ProducerClient
    from bench.scenarios import Preset
    from bench.services import ExternalRedis, ManagedProcess, RedisServer

#: The shop's retry policy, as every backend project implements it natively (ARCHITECTURE.md).
POLICY_MAX_RETRIES = 3
POLICY_DELAY_S = 1.0


def account(probes: Iterable[str], finishes: dict[str, list[int]]) -> dict[str, list[str]]:
    """Exact accounting: each probe is completed (finished once), duplicated (more than once) or lost (never)."""
    result: dict[str, list[str]] = {"completed": [], "duplicated": [], "lost": []}
    for probe in probes:
        n = len(finishes.get(probe, ()))
        result["lost" if n == 0 else "completed" if n == 1 else "duplicated"].append(probe)
    return result


def gaps_s(times_ns: list[int]) -> list[float]:
    """Seconds between consecutive attempt starts."""
    ordered = sorted(times_ns)
    return [(b - a) / 1e9 for a, b in itertools.pairwise(ordered)]


class FaultScenarios:
    """Retries and faults, run by a :class:`bench.runner.Session` (which provides the attributes below)."""

    # Provided by Session.
    preset: Preset
    producer: ProducerClient | None
    workers: ManagedProcess | None
    watcher: ChannelWatcher
    redis: RedisServer | ExternalRedis
    spec: Any

    def _prefix(self, name: str) -> str: ...  # pragma: no cover - Session implements
    def _record(self, scenario: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]: ...  # pragma: no cover
    def start_workers(self) -> None: ...  # pragma: no cover
    def stop_workers(self) -> None: ...  # pragma: no cover

    # -- helpers ---------------------------------------------------------------------------------------------------
    def _observe(self, probes: list[str], window_s: float, *, until_finished: bool = True) -> None:
        """Read the channel for ``window_s`` (or until every probe finished, when ``until_finished``)."""
        deadline = time.monotonic() + window_s
        while time.monotonic() < deadline:
            log = self.watcher.poll()
            if until_finished and all(log.finishes.get(p) for p in probes):
                time.sleep(0.3)  # a late duplicate would show up right after
                self.watcher.poll()
                return
            time.sleep(0.05)

    def _wait_for(self, kind: str, probes: list[str], timeout_s: float) -> bool:
        """Wait until every probe has at least one event of ``kind`` (``starts`` or ``errors``); False on timeout."""
        return self.watcher.wait_for(probes, (kind,), timeout_s=timeout_s)

    def _produce(self, task: str, args: list[list[Any]], prefix: str) -> list[str]:
        assert self.producer is not None
        self.producer.call("produce", task=task, args=args, prefix=prefix)
        return [f"{prefix}{i}" for i in range(len(args))]

    def _produce_keyed(self, task: str, fail_times: int, count: int, name: str, *, keep_ids: bool = False) -> list[str]:
        """Flaky tasks whose attempt-counter key is their probe (so the counter is unique per task)."""
        prefix = self._prefix(name)
        probes = [f"{prefix}{i}" for i in range(count)]
        if keep_ids:
            assert self.producer is not None
            self.producer.call("produce_tracked", task=task, args=[[p, fail_times] for p in probes], prefix=prefix)
            return probes
        return self._produce(task, [[p, fail_times] for p in probes], prefix)

    @property
    def _window_s(self) -> float:
        return self.preset.fault_window_s

    # -- retries ---------------------------------------------------------------------------------------------------
    def scenario_retries(self) -> None:
        """Flaky tasks failing k times then succeeding, and failing forever; policy and library defaults."""
        self.start_workers()
        variants = [
            ("flaky_retry", 2),  # fails twice, succeeds at the third attempt
            ("flaky_retry", -1),  # fails forever: are the 3 retries honoured, where does the failure go?
            ("flaky_default", 2),
            ("flaky_default", -1),
        ]
        probes_by_variant: dict[tuple[str, int], list[str]] = {}
        for task, k in variants:
            name = f"retry-{task}-{'forever' if k < 0 else k}-"
            probes_by_variant[(task, k)] = self._produce_keyed(task, k, self.preset.retry_tasks, name, keep_ids=True)
        every = [p for ps in probes_by_variant.values() for p in ps]
        # Failing-forever tasks never "finish": observe the whole window.
        self._observe(every, self.preset.retry_window_s, until_finished=False)
        log = self.watcher.log
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
                "window_s": self.preset.retry_window_s,
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
            self._record(
                "retries",
                {"task": task, "fail_times": k},
                values=values,
                samples={"attempt_times_ns": {p: attempts[p] for p in probes}, "gaps_s": all_gaps},
                accounting=account(probes, log.finishes),
            )
        self._failure_visibility("flaky_retry", probes_by_variant[("flaky_retry", -1)])
        self._failure_visibility("flaky_default", probes_by_variant[("flaky_default", -1)])
        # Whether a *pending* retry survives a worker or Redis restart is measured by the fault scenarios, whose
        # workloads include tasks waiting for their retry at the moment of the fault.
        self.stop_workers()

    def _failure_visibility(self, task: str, probes: list[str]) -> None:
        """Where an exhausted task's failure is recorded, as the backend's own API reports it (dead letters…)."""
        assert self.producer is not None
        answer = self.producer.call("failure_visibility", probes=probes)
        self._record(
            "retries",
            {"task": task, "fail_times": -1, "check": "exhausted_visibility"},
            values={"visible": answer.get("visible"), "window_s": self.preset.retry_window_s},
            notes={"where": answer.get("where"), "detail": answer.get("detail")},
        )

    def _wait_recovered(self, timeout_s: float = 60.0) -> float | None:
        """After a Redis restart: enqueue a noop every 0.5 s until one finishes; seconds until then, else None."""
        assert self.producer is not None
        start = time.monotonic()
        sent: list[str] = []
        while time.monotonic() - start < timeout_s:
            prefix = self._prefix("recover")
            try:
                self.producer.call("produce", task="noop", args=[[]], prefix=prefix)
                sent.append(f"{prefix}0")
            except BenchError:
                pass  # the producer may still see the outage: try again
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                log = self.watcher.poll()
                if any(log.finishes.get(p) for p in sent):
                    return time.monotonic() - start
                time.sleep(0.02)
        return None

    # -- faults ----------------------------------------------------------------------------------------------------
    def scenario_faults(self) -> None:
        """Worker SIGKILL and SIGTERM mid-task, Redis restart with and without AOF, Redis down at enqueue."""
        for kind in ("sigkill", "sigterm"):
            self._worker_fault(kind)
        self._redis_restart()
        self._redis_down_enqueue()

    def _mixed_workload(self, name: str) -> dict[str, list[str]]:
        """Tasks in every state a fault can meet, by category.

        ``retrying``: flaky tasks whose first attempt failed and whose retry (1 s) is pending; ``delayed``: noops
        scheduled 5 s ahead; ``running``: long tasks keeping every worker process busy; ``queued``: short tasks
        queued or prefetched behind them.
        """
        assert self.producer is not None
        retrying = self._produce_keyed("flaky_retry", 1, self.preset.retry_tasks, f"{name}-retrying-")
        self._wait_for("errors", retrying, 20)
        prefix = self._prefix(f"{name}-delayed-")
        self.producer.call("produce_delayed", task="noop", delay_s=5.0, count=self.preset.retry_tasks, prefix=prefix)
        delayed = [f"{prefix}{i}" for i in range(self.preset.retry_tasks)]
        running = self._produce(
            "sleep", [[self.preset.long_task_s]] * self.spec.processes, self._prefix(f"{name}-long-")
        )
        queued = self._produce("sleep", [[0.05]] * self.preset.queued_tasks, self._prefix(f"{name}-queued-"))
        return {"retrying": retrying, "delayed": delayed, "running": running, "queued": queued}

    def _fault_values(self, workload: dict[str, list[str]], accounting: dict[str, list[str]]) -> dict[str, Any]:
        """Counts of the accounting, overall and per category (``<category>_lost`` …)."""
        lost, duplicated = set(accounting["lost"]), set(accounting["duplicated"])
        values: dict[str, Any] = {
            "tasks": sum(len(p) for p in workload.values()),
            "completed": len(accounting["completed"]),
            "duplicated": len(duplicated),
            "lost": len(lost),
            "window_s": self._window_s,
        }
        for category, probes in workload.items():
            values[f"{category}_tasks"] = len(probes)
            values[f"{category}_lost"] = sum(p in lost for p in probes)
            values[f"{category}_duplicated"] = sum(p in duplicated for p in probes)
        return values

    def _worker_fault(self, kind: str) -> None:
        """SIGKILL (the whole worker tree, as a crash or an OOM kill of the container) or SIGTERM (to the worker's
        main process, as systemd/Docker/Kubernetes stop it) while tasks run, wait, are delayed or retrying."""
        self.start_workers()
        workload = self._mixed_workload(kind)
        every = [p for probes in workload.values() for p in probes]
        if not self._wait_for("starts", workload["running"], 30):
            self._record("faults", {"kind": kind}, status="failed", error="long tasks did not start within 30 s")
            self.stop_workers()
            return
        time.sleep(0.3)  # let the workers reserve/prefetch the queued tasks
        assert self.workers is not None
        t_signal = time.monotonic_ns()
        if kind == "sigkill":
            self.workers.kill()
            shutdown_s = 0.0
        else:
            self.workers.send_signal(signal.SIGTERM, group=False)
            with contextlib.suppress(Exception):
                self.workers.wait(timeout=self.preset.long_task_s + 30)
            shutdown_s = (time.monotonic_ns() - t_signal) / 1e9
            self.workers.stop(timeout=1)
        self.workers = None
        self.watcher.poll()
        finished_before_restart = sum(1 for p in every if self.watcher.log.finishes.get(p))
        t_restart = time.monotonic_ns()
        self.start_workers()
        self._observe(every, self._window_s)
        log = self.watcher.log
        redelivery = [
            (min(t for t in log.starts[p] if t > t_restart) - t_signal) / 1e9
            for p in workload["running"]
            if any(t < t_signal for t in log.starts.get(p, [])) and any(t > t_restart for t in log.starts.get(p, []))
        ]
        accounting = account(every, log.finishes)
        values = self._fault_values(workload, accounting)
        values.update(
            {
                "interrupted_rerun": len(redelivery),
                "redelivery_s": min(redelivery, default=None),
                "redelivery_s_max": max(redelivery, default=None),
                "finished_before_restart": finished_before_restart,
                "shutdown_s": shutdown_s,
            }
        )
        self._record(
            "faults", {"kind": kind}, values=values, samples={"redelivery_s": redelivery}, accounting=accounting
        )
        self.stop_workers()

    def _redis_restart(self) -> None:
        """Stop and start the session's private Redis with tasks queued, running, delayed and retrying."""
        if not hasattr(self.redis, "start"):
            return
        for persistence in self.preset.redis_persistence:
            self._redis_restart_once(persistence)

    def _redis_restart_once(self, persistence: str) -> None:
        from bench.services import RedisServer

        if not isinstance(self.redis, RedisServer):
            self._record(
                "faults",
                {"kind": "redis_restart", "persistence": persistence},
                status="failed",
                error="needs a private Redis (not run with --redis-url)",
            )
            return
        # Switch persistence on the same private server: restart it with the wanted AOF setting.
        self.redis.stop()
        self.redis.appendonly = persistence == "aof"
        self.redis.start()
        self.start_workers()
        workload = self._mixed_workload(f"rr-{persistence}")
        self._wait_for("starts", workload["running"], 30)
        time.sleep(0.3)
        self.redis.stop()
        time.sleep(self.preset.redis_down_s)
        self.redis.start()
        recovered_s = self._wait_recovered()
        manual_restart = recovered_s is None
        if manual_restart:
            self.stop_workers()
            self.start_workers()
            recovered_s = self._wait_recovered()
        every = [p for probes in workload.values() for p in probes]
        self._observe(every, self._window_s)
        accounting = account(every, self.watcher.log.finishes)
        values = self._fault_values(workload, accounting)
        values.update(
            {
                "down_s": self.preset.redis_down_s,
                "reconnect_s": recovered_s,
                "needs_manual_restart": manual_restart,
            }
        )
        self._record(
            "faults", {"kind": "redis_restart", "persistence": persistence}, values=values, accounting=accounting
        )
        self.stop_workers()
        # Back to the run's usual broker settings for whatever follows.
        self.redis.stop()
        self.redis.appendonly = False
        self.redis.start()

    def _redis_down_enqueue(self) -> None:
        """What the producer call (and the shop view's ``submit``) does while Redis is down."""
        from bench.services import RedisServer

        if not isinstance(self.redis, RedisServer):
            return
        assert self.producer is not None
        self.redis.stop()
        try:
            answer = self.producer.call("enqueue_while_down", task="noop", timeout_s=self.preset.down_enqueue_timeout_s)
        finally:
            self.redis.start()
        self._record(
            "faults",
            {"kind": "redis_down_enqueue"},
            values={
                "call_s": answer["seconds"],
                "raised": answer["raised"],
                "blocked": answer["blocked"],
                "view_seconds": answer.get("view_seconds"),
                "timeout_s": self.preset.down_enqueue_timeout_s,
            },
            notes={
                "exception": answer.get("exception"),
                "message": answer.get("message"),
                "view_outcome": answer.get("view_outcome"),
            },
        )
