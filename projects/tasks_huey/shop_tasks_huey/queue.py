"""How the shop enqueues work with Django's Tasks framework on Huey's backend: the shared ``shop.dtasks`` tasks,
``Task.enqueue(...)`` now and ``Task.using(run_after=...).enqueue(...)`` later (``shop.dtasks.queue``). The
framework's task id is the Huey task's id. A delayed task is a Huey task with an ETA: the worker that pops it puts it
on Huey's schedule, and the consumer's scheduler (every ``scheduler_interval`` = 1 s) enqueues it again once due.

Huey's backend enqueues a Huey message (``djtasks.run`` with the function's path and arguments) and keeps the
framework's result record, a pickled dict, in Huey's result store under ``djt.<id>``: READY at enqueue, RUNNING when a
worker starts it, SUCCESSFUL/FAILED when it ends. ``locate`` reads Huey's own structures (queue, schedule) first and
that record second; ``describe_failures`` reads the records.
"""

from __future__ import annotations

from typing import Any

from huey.contrib.djhuey import HUEY
from huey.contrib.djhuey.tasks_backend import KEY
from huey.utils import utcnow

from bench.contract import Location
from shop.dtasks.compat import TaskResultStatus
from shop.dtasks.queue import ENQUEUE, enqueue, enqueue_delayed

__all__ = ["ENQUEUE", "describe_failures", "enqueue", "enqueue_delayed", "locate"]

#: run_huey's default ``scheduler_interval``: how often the consumer moves due tasks from the schedule to the queue.
SCHEDULER_INTERVAL_S = 1.0


def _record(task_id: str) -> dict[str, Any] | None:
    return HUEY.get(KEY % task_id, peek=True)


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where these tasks' failure is recorded: the framework's record in Huey's result store (``djt.<id>``, status
    FAILED, with the exception's class path and traceback; ``Task.get_result(id)`` reads it). ``visible``: every id
    has a FAILED record. Huey's backend writes the record in every profile, also with ``results=False``."""
    detail: dict[str, Any] = {"ids": len(task_ids), "huey_results": bool(HUEY.results)}
    try:
        records = [_record(task_id) for task_id in task_ids]
    except Exception as exc:  # Redis down or unreadable: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": "Huey result store lookup failed", "detail": detail}
    failed = [r for r in records if r is not None and r["status"] == TaskResultStatus.FAILED.value]
    detail.update(
        failed_records=len(failed),
        other_records=sum(r is not None for r in records) - len(failed),
        missing=sum(r is None for r in records),
        error_sample=[r["errors"][-1][0] for r in failed[:1] if r["errors"]],
    )
    if failed:
        where = f"django.tasks records in Huey's result store ('{KEY % '<id>'}', status FAILED; Task.get_result(id))"
    else:
        where = "not recorded as failed in Huey's result store"
    return {"visible": bool(task_ids) and len(failed) == len(task_ids), "where": where, "detail": detail}


def _huey_structures() -> tuple[dict[str, Any], dict[str, Any]]:
    """Task id → Huey task, for the queue and for the schedule (both deserialized from Redis)."""
    queued = {task.id: task for task in HUEY.pending()}
    scheduled = {task.id: task for task in HUEY.scheduled()}
    return queued, scheduled


def _due_in(task: Any) -> float:
    return max(0.0, (task.eta - utcnow()).total_seconds()) if task.eta is not None else 0.0


def _locate_one(task_id: str, queued: dict[str, Any], scheduled: dict[str, Any]) -> Location:
    rule = f"ETA, then the consumer's scheduler (scheduler_interval={SCHEDULER_INTERVAL_S:g} s)"
    if task_id in scheduled:
        due = _due_in(scheduled[task_id])
        return {"where": "scheduled", "detail": f"Huey schedule of '{HUEY.name}'", "returns_in_s": due, "rule": rule}
    if task_id in queued:
        task = queued[task_id]
        if task.eta is not None and _due_in(task) > 0:
            # Not yet popped: the worker that pops it will move it to the schedule.
            detail = f"Huey queue of '{HUEY.name}' with a future ETA (moved to the schedule when popped)"
            return {"where": "scheduled", "detail": detail, "returns_in_s": _due_in(task), "rule": rule}
        return {"where": "queued", "detail": f"Huey queue of '{HUEY.name}'", "returns_in_s": None, "rule": ""}
    record = _record(task_id)
    status = record["status"] if record is not None else None
    if status == TaskResultStatus.SUCCESSFUL.value:
        return {"where": "done", "detail": "djt record SUCCESSFUL", "returns_in_s": None, "rule": ""}
    if status == TaskResultStatus.FAILED.value:
        return {"where": "failed", "detail": "djt record FAILED", "returns_in_s": None, "rule": ""}
    # Popped by a worker (BRPOP): Huey keeps no copy, so only that worker's memory holds it.
    detail = f"in no Huey structure; djt record {status or 'missing'} (popped by a worker, no ack in Huey)"
    return {"where": "nowhere", "detail": detail, "returns_in_s": None, "rule": ""}


def locate(task_ids: list[str]) -> dict[str, Location]:
    """Where each task is: Huey's queue (``queued``, or ``scheduled`` with a future ETA), Huey's schedule
    (``scheduled``), else the framework's record (SUCCESSFUL → done, FAILED → failed; READY or RUNNING in no Huey
    structure → nowhere: a popped task lives only in its worker). Never raises."""
    try:
        queued, scheduled = _huey_structures()
        return {task_id: _locate_one(task_id, queued, scheduled) for task_id in task_ids}
    except Exception as exc:
        detail = f"Huey lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {
            task_id: {"where": "unknown", "detail": detail, "returns_in_s": None, "rule": ""} for task_id in task_ids
        }
