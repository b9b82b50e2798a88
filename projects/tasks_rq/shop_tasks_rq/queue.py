"""How the shop enqueues work through Django's Tasks framework on django-tasks-rq: the shared ``shop.dtasks`` tasks,
``Task.enqueue(...)`` now and ``Task.using(run_after=...).enqueue(...)`` later (``shop.dtasks.queue``);
django-tasks-rq turns both into RQ jobs (the TaskResult id is the RQ job id) and schedules a delayed one with
``queue.schedule_job``: RQ's ScheduledJobRegistry, moved to the queue by a worker's scheduler when due.

``describe_failures`` and ``locate`` read RQ's own registries of the ``default`` queue (``shop.rqinspect``): the
backend stores nothing of its own, its ``get_result()`` reads the same RQ job.
"""

from __future__ import annotations

from typing import Any

import django_rq
from rq import Queue

from shop import rqinspect
from shop.dtasks.queue import ENQUEUE, enqueue, enqueue_delayed

__all__ = ["ENQUEUE", "describe_failures", "enqueue", "enqueue_delayed", "locate", "queue"]


def queue() -> Queue:
    """The RQ queue behind the ``default`` task queue (``RQ_QUEUES['default']``)."""
    return django_rq.get_queue("default")


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where these tasks' failure is recorded: RQ's FailedJobRegistry (``shop.rqinspect``)."""
    try:
        rq_queue = queue()
    except Exception as exc:
        return {"visible": False, "where": "RQ queue unavailable", "detail": {"error": f"{exc!r}"[:300]}}
    return rqinspect.describe_failures(rq_queue, task_ids)


def locate(task_ids: list[str]) -> dict[str, Any]:
    """Where each task is now in RQ's queue and registries (``shop.rqinspect``)."""
    try:
        rq_queue = queue()
    except Exception as exc:
        error = f"RQ queue unavailable: {exc!r}"[:300]
        return {i: {"where": "unknown", "detail": error, "returns_in_s": None, "rule": ""} for i in task_ids}
    return rqinspect.locate(rq_queue, task_ids)
