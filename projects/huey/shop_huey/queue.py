"""How the shop enqueues work with Huey: calling a task is ``huey.enqueue(task.s(*args, **kwargs))``; later work
is ``task.schedule(args, kwargs, delay=...)``.

``describe_failures`` reports where Huey itself records a task whose retries are exhausted: the result store
(``huey.result(id)`` raises ``TaskException`` for a stored error), which only exists with ``results=True``.
``locate`` says where each task is now: the queue list, the schedule, the result store, or nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from huey.contrib.djhuey import HUEY
from huey.exceptions import TaskException
from huey.utils import Error

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


def _location(where: str, detail: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, Any]:
    """One ``bench.contract.Location`` (a plain dict: the project does not import the harness)."""
    return {"where": where, "detail": detail, "returns_in_s": returns_in_s, "rule": rule}


def locate(task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each task is now in RedisHuey's storage (huey/storage.py ``RedisStorage``), read in one pipeline.

    ``queued``: in the queue list ``huey.redis.<name>`` (also a ``schedule()``d task no consumer has popped yet:
    Huey puts it on the queue with an ETA, and the worker that pops it early adds it to the schedule);
    ``scheduled``: in the sorted set ``huey.schedule.<name>`` (scored by ETA; the consumer's scheduler moves due
    tasks to the queue every ``scheduler_interval``); ``failed``: an ``Error`` in the result hash
    ``huey.results.<name>``; ``done``: a stored result -- only for a task that returned something (``store_none``
    is off) with ``results=True``, so a finished ``noop``/``sleep`` is ``nowhere``, as is a popped or running task
    (Huey holds it only in the worker's memory). Never raises.
    """
    storage = HUEY.storage
    interval = (getattr(settings, "HUEY", {}).get("consumer") or {}).get("scheduler_interval", 1)
    try:
        pipe = storage.conn.pipeline(transaction=False)
        pipe.lrange(storage.queue_key, 0, -1)
        pipe.zrange(storage.schedule_key, 0, -1, withscores=True)
        if task_ids:
            pipe.hmget(storage.result_key, task_ids)
        queue, schedule, *results = pipe.execute()
    except Exception as exc:  # Redis down or unreadable
        error = f"Redis lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {task_id: _location("unknown", error) for task_id in task_ids}
    wanted = set(task_ids)
    now = storage.convert_ts(HUEY._get_timestamp())  # the clock and conversion read_schedule() uses
    found: dict[str, dict[str, Any]] = {}
    for raw in queue:
        message = HUEY.serializer.deserialize(raw)  # a huey.registry.Message
        if message.id in wanted and message.id not in found:
            eta = f", ETA {message.eta.isoformat()} (a consumer will move it to the schedule)" if message.eta else ""
            found[message.id] = _location("queued", f"Redis list {storage.queue_key!r}{eta}")
    for raw, score in schedule:
        message = HUEY.serializer.deserialize(raw)
        if message.id in wanted and message.id not in found:
            found[message.id] = _location(
                "scheduled",
                f"Redis sorted set {storage.schedule_key!r}, ETA {message.eta.isoformat() if message.eta else None}",
                round(max(0.0, score - now), 3),
                f"the task's ETA; a running consumer's scheduler moves it every scheduler_interval={interval} s",
            )
    stored = dict(zip(task_ids, results[0], strict=True)) if results else {}
    for task_id in task_ids:
        if task_id in found:
            continue
        raw = stored.get(task_id)
        if raw is not None:
            value = HUEY.serializer.deserialize(raw)
            if isinstance(value, Error):
                found[task_id] = _location("failed", f"Redis hash {storage.result_key!r}: an Error (retries exhausted)")
            else:
                found[task_id] = _location("done", f"Redis hash {storage.result_key!r}: a stored result")
        else:
            found[task_id] = _location(
                "nowhere",
                "in no Huey Redis structure: popped (a worker's memory), finished without a stored result"
                + (" (results=False)" if not HUEY.results else " (returned None)")
                + ", or lost",
            )
    return {task_id: found[task_id] for task_id in task_ids}
