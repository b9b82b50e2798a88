"""How the shop enqueues work with Celery: ``task.delay``."""

from __future__ import annotations

from collections.abc import Callable

from shop_celery import tasks

#: Task name → Celery's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {
    "send_invoice_email": tasks.send_invoice_email.delay,
    "import_products": tasks.import_products.delay,
    "build_sales_report": tasks.build_sales_report.delay,
    "noop": tasks.noop.delay,
    "sleep": tasks.sleep.delay,
    "flaky_default": tasks.flaky_default.delay,
    "flaky_retry": tasks.flaky_retry.delay,
}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return Celery's task id."""
    return ENQUEUE[name](*args, **kwargs).id
