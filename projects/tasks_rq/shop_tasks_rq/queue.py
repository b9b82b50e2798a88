"""How the shop enqueues work through Django's Tasks framework: ``task.enqueue(...)`` now and
``task.using(run_after=...).enqueue(...)`` later; django-tasks-rq turns both into RQ jobs.

``describe_failures`` and ``locate`` read RQ's own registries of the ``default`` queue (``shop.rqinspect``): the
backend stores nothing of its own, its ``get_result()`` reads the same RQ job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_rq
from django.utils import timezone
from rq import Queue

from shop import rqinspect
from shop_tasks_rq import tasks

#: Task name → Django Task.
TASKS: dict[str, Any] = {
    "send_invoice_email": tasks.send_invoice_email,
    "import_products": tasks.import_products,
    "build_sales_report": tasks.build_sales_report,
    "noop": tasks.noop,
    "sleep": tasks.sleep,
    "flaky_default": tasks.flaky_default,
    "flaky_retry": tasks.flaky_retry,
}

#: Task name → the framework's enqueue call (``Task.enqueue``).
ENQUEUE: dict[str, Callable[..., object]] = {name: task.enqueue for name, task in TASKS.items()}


def queue() -> Queue:
    """The RQ queue behind the ``default`` task queue (``RQ_QUEUES['default']``)."""
    return django_rq.get_queue("default")


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return the TaskResult id (django-tasks-rq uses it as the RQ job id)."""
    return ENQUEUE[name](*args, **kwargs).id  # type: ignore[attr-defined]


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` to run ``delay_s`` seconds from now (``Task.using(run_after=...)``); its id.

    django-tasks-rq schedules the job with ``queue.schedule_job``: RQ's ScheduledJobRegistry, moved to the queue by a
    worker's scheduler when due.
    """
    run_after = timezone.now() + timedelta(seconds=delay_s)
    return TASKS[name].using(run_after=run_after).enqueue(*args, **kwargs).id


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
