"""How the shop enqueues work with Celery: ``task.delay`` (now) and ``task.apply_async(countdown=...)`` (later).

``describe_failures`` reports where Celery itself records a task whose retries are exhausted: its result backend
(django-celery-results ``TaskResult`` rows, what ``AsyncResult(id).state`` reads and the admin lists).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import Task, states
from celery.result import AsyncResult

from shop_celery import tasks
from shop_celery.celery import app

#: Task name → Celery task.
TASKS: dict[str, Task] = {
    "send_invoice_email": tasks.send_invoice_email,
    "import_products": tasks.import_products,
    "build_sales_report": tasks.build_sales_report,
    "noop": tasks.noop,
    "sleep": tasks.sleep,
    "flaky_default": tasks.flaky_default,
    "flaky_retry": tasks.flaky_retry,
}

#: Task name → Celery's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {name: task.delay for name, task in TASKS.items()}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return Celery's task id."""
    return ENQUEUE[name](*args, **kwargs).id


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` to run ``delay_s`` seconds from now (``apply_async(countdown=...)``); Celery's task id.

    The message is published at once with an ETA; a worker reserves it and holds it in memory until it is due.
    """
    return TASKS[name].apply_async(args=args, kwargs=kwargs, countdown=delay_s).id


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where Celery records these tasks' final failure: the result backend, as ``AsyncResult(id).state`` shows it.

    ``visible`` is true when every id has state FAILURE there. With ``task_ignore_result`` (tuned profile) and
    ``task_store_errors_even_if_ignored`` off (its default) nothing is stored: the failure is only a worker log line.
    """
    ignore_result = bool(app.conf.task_ignore_result)
    store_errors = bool(app.conf.task_store_errors_even_if_ignored)
    backend = type(app.backend).__name__
    detail: dict[str, Any] = {
        "ids": len(task_ids),
        "result_backend": backend,
        "task_ignore_result": ignore_result,
        "task_store_errors_even_if_ignored": store_errors,
    }
    try:
        found = Counter(AsyncResult(task_id, app=app).state for task_id in task_ids)
        from django_celery_results.models import TaskResult

        rows = Counter(TaskResult.objects.filter(task_id__in=task_ids).values_list("status", flat=True))
    except Exception as exc:  # a broken backend must not break the scenario: say what failed
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": f"result backend lookup failed ({backend})", "detail": detail}
    failed = found.get(states.FAILURE, 0)
    detail.update(failure=failed, states=dict(found), task_result_rows=dict(rows))
    if failed:
        where = "django_celery_results TaskResult rows with status FAILURE (AsyncResult.state; admin: Task results)"
    elif ignore_result and not store_errors:
        where = "nowhere: task_ignore_result=True stores no result, not even the failure (worker log only)"
    else:
        where = "not in the result backend: AsyncResult.state is not FAILURE"
    return {"visible": bool(task_ids) and failed == len(task_ids), "where": where, "detail": detail}
