"""How the shop enqueues work with Huey: calling a task is ``huey.enqueue(task.s(*args, **kwargs))``."""

from __future__ import annotations

from collections.abc import Callable

from huey.contrib.djhuey import HUEY

from shop_huey import tasks

#: Task name → Huey's own enqueue call (the task itself).
ENQUEUE: dict[str, Callable[..., object]] = {
    "send_invoice_email": tasks.send_invoice_email,
    "import_products": tasks.import_products,
    "build_sales_report": tasks.build_sales_report,
    "noop": tasks.noop,
    "sleep": tasks.sleep,
    "flaky_default": tasks.flaky_default,
    "flaky_retry": tasks.flaky_retry,
}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return Huey's task id.

    Does what calling the task does (``TaskWrapper.__call__``), keeping the task instance: with ``results=False``
    (the tuned profile) the call returns ``None`` instead of a result handle, so the id has to come from the task.
    """
    task = ENQUEUE[name].s(*args, **kwargs)  # type: ignore[attr-defined]
    HUEY.enqueue(task)
    return task.id
