"""How the shop enqueues work with Dramatiq: ``actor.send``."""

from __future__ import annotations

from collections.abc import Callable

from shop_dramatiq import tasks

#: Task name → Dramatiq's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {
    "send_invoice_email": tasks.send_invoice_email.send,
    "import_products": tasks.import_products.send,
    "build_sales_report": tasks.build_sales_report.send,
    "noop": tasks.noop.send,
    "sleep": tasks.sleep.send,
    "flaky_default": tasks.flaky_default.send,
    "flaky_retry": tasks.flaky_retry.send,
}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return Dramatiq's message id."""
    return ENQUEUE[name](*args, **kwargs).message_id
