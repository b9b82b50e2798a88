"""How the shop enqueues work with RQ: ``job_function.delay(...)`` (django-rq's ``@job``) now, and
``queue.enqueue_in(timedelta, ...)`` (RQ's scheduler) later.

``describe_failures`` and ``locate`` read RQ's own registries of the ``default`` queue (``shop.rqinspect``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_rq
from rq import Queue

from shop import rqinspect
from shop_rq import tasks

#: Task name → the decorated job function (its ``delay`` enqueues; its decorator options apply).
JOBS: dict[str, Any] = {
    "send_invoice_email": tasks.send_invoice_email,
    "import_products": tasks.import_products,
    "build_sales_report": tasks.build_sales_report,
    "noop": tasks.noop,
    "sleep": tasks.sleep,
    "flaky_default": tasks.flaky_default,
    "flaky_retry": tasks.flaky_retry,
}

#: Task name → RQ's own enqueue call (``delay``, as django-rq's docs show it).
ENQUEUE: dict[str, Callable[..., object]] = {name: function.delay for name, function in JOBS.items()}

#: The retry option of each job function (the ``@job`` decorator keeps it only inside ``delay``).
RETRY = {"send_invoice_email": tasks.SHOP_RETRY, "flaky_retry": tasks.SHOP_RETRY}


def queue() -> Queue:
    """The shop's RQ queue, configured by ``RQ_QUEUES['default']`` (connection, serializer)."""
    return django_rq.get_queue("default")


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return RQ's job id."""
    job = ENQUEUE[name](*args, **kwargs)
    if job is None:
        # django-rq's default COMMIT_MODE defers an enqueue inside a transaction.atomic block to the commit.
        raise RuntimeError(f"{name}: django-rq deferred the enqueue to the end of the database transaction")
    return job.id  # type: ignore[attr-defined]


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` to run ``delay_s`` seconds from now (``Queue.enqueue_in``); RQ's job id.

    The job goes to the queue's ScheduledJobRegistry; a worker's scheduler moves it to the queue when due.
    """
    job = queue().enqueue_in(timedelta(seconds=delay_s), JOBS[name], *args, retry=RETRY.get(name), **kwargs)
    return job.id


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where RQ records these jobs' final failure: the FailedJobRegistry (``shop.rqinspect``)."""
    try:
        rq_queue = queue()
    except Exception as exc:
        return {"visible": False, "where": "RQ queue unavailable", "detail": {"error": f"{exc!r}"[:300]}}
    return rqinspect.describe_failures(rq_queue, task_ids)


def locate(task_ids: list[str]) -> dict[str, Any]:
    """Where each job is now in RQ's queue and registries (``shop.rqinspect``)."""
    try:
        rq_queue = queue()
    except Exception as exc:
        error = f"RQ queue unavailable: {exc!r}"[:300]
        return {i: {"where": "unknown", "detail": error, "returns_in_s": None, "rule": ""} for i in task_ids}
    return rqinspect.locate(rq_queue, task_ids)
