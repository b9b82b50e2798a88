"""Where RQ holds a job, read from RQ's own structures: shared by the two RQ-backed projects (``rq``, ``tasks_rq``).

Only those projects import this module (it imports ``rq``); the shop itself never does. Both answer the contract's
``locate`` and ``describe_failures`` (bench/contract.py) from the same RQ keys of one queue, so the rules live here
once. Nothing here changes RQ's state: every registry is read with ``cleanup=False`` (a registry read with cleanup
would itself move abandoned jobs to the FailedJobRegistry and change what it reports).

RQ 2/3 keys of a queue ``q``: ``rq:queue:q`` (list, waiting), ``rq:queue:q:intermediate`` (list, popped by a worker
and not yet in the started registry), ``rq:wip:q`` (StartedJobRegistry, sorted set of ``<job id>:<execution id>``
scored by heartbeat expiry), ``rq:scheduled:q`` (ScheduledJobRegistry, scored by due time), ``rq:finished:q`` and
``rq:failed:q`` (scored by expiry of the record).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rq import Queue
from rq.defaults import DEFAULT_MAINTENANCE_TASK_INTERVAL
from rq.exceptions import NoSuchJobError
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler

#: The scheduler inside every worker of rqworker-pool polls the ScheduledJobRegistry this often (RQScheduler's
#: ``interval`` default, rq/scheduler.py).
SCHEDULER_INTERVAL_S = 1.0
#: A live scheduler refreshes its queue lock to ``interval + 60`` s at every poll (``RQScheduler.heartbeat``): a lock
#: with less time left than this belongs to a scheduler that stopped polling (killed).
LIVE_LOCK_TTL_S = SCHEDULER_INTERVAL_S + 60 - 3


def scheduler_rule(queue: Queue) -> tuple[float, str]:
    """Extra seconds before a due job of ``queue``'s ScheduledJobRegistry is enqueued, and why (upper bound).

    Only the worker holding the queue's scheduler lock moves due jobs. A worker that found the lock taken when it
    started tries again only at its maintenance (every ``DEFAULT_MAINTENANCE_TASK_INTERVAL`` s, rq/worker/base.py
    ``run_maintenance_tasks``): after a killed scheduler, due jobs wait for its lock to expire *and* for that.
    """
    ttl = queue.connection.ttl(RQScheduler.get_locking_key(queue.name))
    if ttl >= LIVE_LOCK_TTL_S:
        return SCHEDULER_INTERVAL_S, f"a live scheduler holds the lock and polls every {SCHEDULER_INTERVAL_S:.0f} s"
    maintenance = DEFAULT_MAINTENANCE_TASK_INTERVAL
    if ttl > 0:
        why = (
            f"the scheduler lock's holder stopped polling (lock expires in {ttl} s); a worker takes the lock at its "
            f"next maintenance (every {maintenance} s; upper bound)"
        )
        return ttl + maintenance, why
    return maintenance, f"no scheduler holds the lock; a worker takes it at start or at maintenance ({maintenance} s)"


def _scores(connection: Any, key: str) -> dict[str, float]:
    return {(m.decode() if isinstance(m, bytes) else m): s for m, s in connection.zrange(key, 0, -1, withscores=True)}


def _list(connection: Any, key: str) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else m for m in connection.lrange(key, 0, -1)]


def _location(where: str, detail: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, Any]:
    return {"where": where, "detail": detail, "returns_in_s": returns_in_s, "rule": rule}


def locate(queue: Queue, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each job is now in ``queue``'s RQ structures (bench.contract.Location per id); never raises."""
    try:
        connection = queue.connection
        now = time.time()
        waiting = set(_list(connection, queue.key))
        intermediate_key = IntermediateQueue.get_intermediate_queue_key(queue.key)
        intermediate = set(_list(connection, intermediate_key))
        started: dict[str, float] = {}
        started_key = StartedJobRegistry(queue=queue).key
        for member, score in _scores(connection, started_key).items():
            job_id = StartedJobRegistry.parse_job_id(member)
            started[job_id] = max(score, started.get(job_id, score))
        scheduled = _scores(connection, ScheduledJobRegistry(queue=queue).key)
        finished = _scores(connection, FinishedJobRegistry(queue=queue).key)
        failed = _scores(connection, FailedJobRegistry(queue=queue).key)
        scheduler_wait = scheduler_rule(queue)
    except Exception as exc:  # Redis down: every id is unknown, with the reason
        error = f"{type(exc).__name__}: {exc}"[:300]
        return {task_id: _location("unknown", f"RQ lookup failed: {error}") for task_id in task_ids}
    maintenance = f"a worker's maintenance (every {DEFAULT_MAINTENANCE_TASK_INTERVAL} s)"
    located: dict[str, dict[str, Any]] = {}
    for task_id in task_ids:
        if task_id in waiting:
            located[task_id] = _location("queued", f"RQ queue list '{queue.key}'")
        elif task_id in started:
            expires_in = max(0.0, started[task_id] - now)
            retries_left = _retries_left(queue, task_id)
            if retries_left:
                due: float | None = expires_in + DEFAULT_MAINTENANCE_TASK_INTERVAL
                rule = (
                    f"heartbeat expiry in {expires_in:.0f} s, then {maintenance} re-runs it: "
                    f"{retries_left} retries left (upper bound)"
                )
            else:
                due = None
                rule = (
                    f"heartbeat expiry in {expires_in:.0f} s, then {maintenance} moves it to the "
                    "FailedJobRegistry (AbandonedJobError): no retries left, never re-run"
                )
            located[task_id] = _location("reserved", f"StartedJobRegistry '{started_key}'", due, rule)
        elif task_id in intermediate:
            rule = f"{maintenance} fails a job stuck > 60 s in the intermediate queue (re-run only with retries left)"
            located[task_id] = _location("reserved", f"RQ intermediate queue '{intermediate_key}'", None, rule)
        elif task_id in scheduled:
            extra, why = scheduler_wait
            due = max(0.0, scheduled[task_id] - now) + extra
            located[task_id] = _location("scheduled", "ScheduledJobRegistry", due, f"due time; then {why}")
        elif task_id in finished:
            located[task_id] = _location("done", "FinishedJobRegistry")
        elif task_id in failed:
            located[task_id] = _location("failed", "FailedJobRegistry")
        else:
            located[task_id] = _location("nowhere", _job_state(queue, task_id))
    return located


def _retries_left(queue: Queue, task_id: str) -> int:
    try:
        return int(Job.fetch(task_id, connection=queue.connection, serializer=queue.serializer).retries_left or 0)
    except Exception:  # a job hash that cannot be read has no retries RQ could use
        return 0


def _job_state(queue: Queue, task_id: str) -> str:
    try:
        job = Job.fetch(task_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return "no RQ job hash (never enqueued, or its result/failure TTL expired)"
    except Exception as exc:
        return f"job hash unreadable: {type(exc).__name__}"
    return f"in no RQ queue or registry; job status {_status(job)}"


def _status(job: Job) -> str:
    status = job.get_status(refresh=False)
    return str(getattr(status, "value", status))


def describe_failures(queue: Queue, task_ids: list[str]) -> dict[str, Any]:
    """Where RQ records these jobs' final failure: the queue's FailedJobRegistry; never raises.

    ``visible`` is true when every id is in the registry and its job status is FAILED.
    """
    detail: dict[str, Any] = {"ids": len(task_ids), "queue": queue.name}
    try:
        registry = FailedJobRegistry(queue=queue)
        in_registry = set(registry.get_job_ids(cleanup=False))
        statuses: Counter[str] = Counter()
        sample = ""
        for task_id in task_ids:
            try:
                job = Job.fetch(task_id, connection=queue.connection, serializer=queue.serializer)
            except NoSuchJobError:
                statuses["no job hash"] += 1
                continue
            statuses[_status(job)] += 1
            if not sample and task_id in in_registry:
                result = job.latest_result()
                lines = ((result.exc_string if result else None) or "").strip().splitlines()
                sample = lines[-1][:200] if lines else ""
        detail["failed_registry_size"] = len(in_registry)
    except Exception as exc:  # Redis down or unreadable: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": "RQ FailedJobRegistry lookup failed", "detail": detail}
    found = sum(task_id in in_registry for task_id in task_ids)
    detail.update(in_failed_registry=found, statuses=dict(statuses), error_sample=sample)
    if found:
        where = f"RQ FailedJobRegistry of queue '{queue.name}' (job status failed; django-rq's 'Failed' page)"
    else:
        where = "not in RQ's FailedJobRegistry"
    visible = bool(task_ids) and found == len(task_ids) and statuses.get("failed", 0) == len(task_ids)
    return {"visible": visible, "where": where, "detail": detail}
