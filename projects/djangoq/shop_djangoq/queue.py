"""How the shop enqueues work with django-q2: ``async_task("dotted.path", ...)``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from django_q.tasks import async_task

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
