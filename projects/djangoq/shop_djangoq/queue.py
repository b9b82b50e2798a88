"""How the shop enqueues work with django-q2: ``async_task("dotted.path", ...)`` (now) and a one-off ``Schedule``
(later: django-q2 has no delay/ETA option on ``async_task``).

``describe_failures`` reports where django-q2 itself records a failed task: its ``Task`` table (``Failure`` proxy,
``success=False``), which the cluster's monitor writes and the admin lists as "Failed tasks".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.tasks import async_task, schedule

TASK_NAMES = (
    "send_invoice_email",
    "import_products",
    "build_sales_report",
    "noop",
    "sleep",
    "flaky_default",
    "flaky_retry",
)

#: Task name → django-q2's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {
    name: partial(async_task, f"shop_djangoq.tasks.{name}") for name in TASK_NAMES
}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return django-q2's task id."""
    return str(ENQUEUE[name](*args, **kwargs))


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Run task ``name`` ``delay_s`` seconds from now with a one-off ``Schedule``; returns ``"schedule:<pk>"``.

    This is what django-q2 offers (``schedule(func, ..., schedule_type=ONCE, next_run=...)``, as the shop's retries
    use it). The task id only exists once the scheduler launches the task, so the Schedule's id is returned. The
    scheduler runs in the cluster's sentinel every 30 s (``Cluster.guard``: ``counter >= 30``; not configurable):
    the task starts up to ~30 s after ``next_run``. ``kwargs`` (``probe``) are stored on the Schedule and passed on.
    """
    task_schedule = schedule(
        f"shop_djangoq.tasks.{name}",
        *args,
        schedule_type=Schedule.ONCE,
        next_run=timezone.now() + timedelta(seconds=delay_s),
        **kwargs,
    )
    return f"schedule:{task_schedule.pk}"


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where django-q2 records these tasks' failure: ``Task`` rows with ``success=False`` (admin: Failed tasks).

    ``visible`` is true when every id has such a row. ``save_limit`` only prunes/skips *successful* tasks, so
    failures are saved in every profile. A retry the shop schedules is a new task with a new id (and its own
    Failure row); only the ids given are counted here.
    """
    detail: dict[str, Any] = {"ids": len(task_ids)}
    try:
        rows = dict(Task.objects.filter(id__in=task_ids).values_list("id", "success"))
    except Exception as exc:  # database unreachable: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": "django_q Task table lookup failed", "detail": detail}
    failed = sum(1 for success in rows.values() if not success)
    detail.update(failure_rows=failed, success_rows=len(rows) - failed, missing=len(task_ids) - len(rows))
    if failed:
        where = "django_q Task rows with success=False (Failure proxy; admin: Django Q > Failed tasks)"
    else:
        where = "not in django_q's Task table: no Failure row for these ids"
    return {"visible": bool(task_ids) and failed == len(task_ids), "where": where, "detail": detail}
