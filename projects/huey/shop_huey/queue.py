"""How the shop enqueues work with Huey: calling a task is ``huey.enqueue(task.s(*args, **kwargs))``; later work
is ``task.schedule(args, kwargs, delay=...)``.

``describe_failures`` reports where Huey itself records a task whose retries are exhausted: the result store
(``huey.result(id)`` raises ``TaskException`` for a stored error), which only exists with ``results=True``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from huey.contrib.djhuey import HUEY
from huey.exceptions import TaskException

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


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` to run ``delay_s`` seconds from now (``task.schedule(delay=...)``); Huey's task id.

    The id is chosen here and passed as ``schedule(id=...)``: with ``results=False`` schedule() returns ``None``.
    A worker that pops a task whose ETA is in the future adds it to the schedule; the consumer's scheduler, ticking
    every ``scheduler_interval`` (1 s), enqueues it again once due.
    """
    task_id = str(uuid.uuid4())  # Huey's own default id format (Task.__init__)
    ENQUEUE[name].schedule(args=args, kwargs=kwargs, delay=delay_s, id=task_id)  # type: ignore[attr-defined]
    return task_id


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where Huey records these tasks' final failure: its result store, as ``huey.result(id)`` reads it.

    ``visible`` is true when a stored ``Error`` exists for every id. The lookup peeks (``preserve=True``): Huey's
    ``result()`` otherwise *pops* the result, so an application can read a failure only once. With
    ``results=False`` (tuned profile) Huey stores nothing: the failure is a consumer log line (and signals).
    """
    detail: dict[str, Any] = {"ids": len(task_ids), "results": bool(HUEY.results)}
    errors: list[str] = []
    other = 0
    try:
        for task_id in task_ids:
            try:
                value = HUEY.result(task_id, preserve=True)
            except TaskException as exc:
                errors.append(str(exc.metadata.get("error", exc))[:200])
            else:
                other += value is not None
        detail["result_store_size"] = HUEY.result_count()
    except Exception as exc:  # Redis down or unreadable: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": "result store lookup failed", "detail": detail}
    detail.update(errors_stored=len(errors), other_results=other, error_sample=errors[:1])
    if errors:
        where = f"Huey result store (Redis hash of '{HUEY.name}'): huey.result(id) raises TaskException"
    elif not HUEY.results:
        where = "nowhere: results=False stores no result, not even the error (consumer log and signals only)"
    else:
        where = "not in the result store: no error stored for these ids"
    return {"visible": bool(task_ids) and len(errors) == len(task_ids), "where": where, "detail": detail}
