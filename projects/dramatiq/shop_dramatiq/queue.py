"""How the shop enqueues work with Dramatiq: ``actor.send`` (now) and ``actor.send_with_options(delay=...)`` (later).

``describe_failures`` reports where Dramatiq itself records a message whose retries are exhausted: the Redis
broker's dead-letter queue and, when django_dramatiq's AdminMiddleware is on, the admin's ``Task`` rows.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.common import xq_name

from shop_dramatiq import tasks

#: Task name → Dramatiq actor.
ACTORS: dict[str, dramatiq.Actor[..., Any]] = {
    "send_invoice_email": tasks.send_invoice_email,
    "import_products": tasks.import_products,
    "build_sales_report": tasks.build_sales_report,
    "noop": tasks.noop,
    "sleep": tasks.sleep,
    "flaky_default": tasks.flaky_default,
    "flaky_retry": tasks.flaky_retry,
}

#: Task name → Dramatiq's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {name: actor.send for name, actor in ACTORS.items()}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return Dramatiq's message id."""
    return ENQUEUE[name](*args, **kwargs).message_id


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` to run ``delay_s`` seconds from now (``send_with_options(delay=ms)``); the message id.

    The Redis broker puts the message on the queue's delay queue (``<queue>.DQ``) with an ETA; a worker's delay
    consumer fetches it, keeps it in memory until the ETA and then moves it to the queue proper.
    """
    message = ACTORS[name].send_with_options(args=args, kwargs=kwargs, delay=int(delay_s * 1000))
    return message.message_id


def _dead_lettered(broker: Any, wanted: set[str]) -> tuple[dict[str, int], int]:
    """Dramatiq message ids of ``wanted`` found in the broker's dead-letter queues, per queue; and the DLQ sizes.

    dispatch.lua's ``nack`` keeps a dead message as ``<namespace>:<queue>.XQ`` (a sorted set of Redis message ids,
    scored by time) plus ``<queue>.XQ.msgs`` (a hash Redis message id → encoded message); the Dramatiq message id
    (the one ``send`` returned; retries keep it) is inside the encoded message.
    """
    found: dict[str, int] = {}
    total = 0
    for queue in sorted({actor.queue_name for actor in ACTORS.values()}):
        key = f"{broker.namespace}:{xq_name(queue)}"
        total += broker.client.zcard(key)
        for raw in broker.client.hvals(key + ".msgs"):
            message_id = dramatiq.Message.decode(raw).message_id
            if message_id in wanted:
                found[message_id] = found.get(message_id, 0) + 1
    return found, total


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where Dramatiq records these messages' final failure: the dead-letter queue and the admin's Task rows.

    ``visible`` is true when every id is in the dead-letter queue. ``Task`` rows exist only with django_dramatiq's
    AdminMiddleware (shipped/safe profiles). ``emit_after`` runs middleware in reverse order, so after a failed
    attempt AdminMiddleware writes "failed" and then Retries' re-enqueue writes "delayed": "failed" is final.
    """
    from django_dramatiq.middleware import AdminMiddleware

    broker = dramatiq.get_broker()
    admin_on = any(isinstance(m, AdminMiddleware) for m in broker.middleware)
    detail: dict[str, Any] = {"ids": len(task_ids), "admin_middleware": admin_on}
    wanted = set(task_ids)
    try:
        found, dlq_size = _dead_lettered(broker, wanted)
    except Exception as exc:  # Redis down or unreadable: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": "dead-letter queue lookup failed", "detail": detail}
    detail.update(dead_lettered=len(found), dead_letter_queue_size=dlq_size)
    places = []
    if found:
        places.append(f"Redis dead-letter queue {broker.namespace}:<queue>.XQ (kept dead_message_ttl, 7 days)")
    if admin_on:
        try:
            from django_dramatiq.models import Task

            # Task.id is a UUIDField: an id that is no UUID cannot have a row (and would make the query raise).
            uuids = [u for u in map(_as_uuid, task_ids) if u is not None]
            statuses = Counter(Task.tasks.filter(id__in=uuids).values_list("status", flat=True))
        except Exception as exc:
            detail["admin_error"] = f"{type(exc).__name__}: {exc}"[:300]
        else:
            detail["admin_task_statuses"] = dict(statuses)
            if statuses.get(Task.STATUS_FAILED):
                places.append("django_dramatiq Task rows with status 'failed' (admin: Django Dramatiq > Tasks)")
    where = "; ".join(places) or (
        f"not dead-lettered: no message of these ids in {broker.namespace}:<queue>.XQ"
        + (", no failed Task row" if admin_on else "")
    )
    return {"visible": bool(task_ids) and len(found) == len(wanted), "where": where, "detail": detail}


def _as_uuid(value: str) -> uuid.UUID | None:
    """``value`` as a UUID (Dramatiq message ids are UUIDs), or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
