"""How the shop enqueues work with Dramatiq: ``actor.send`` (now) and ``actor.send_with_options(delay=...)`` (later).

``describe_failures`` reports where Dramatiq itself records a message whose retries are exhausted: the Redis
broker's dead-letter queue and, when django_dramatiq's AdminMiddleware is on, the admin's ``Task`` rows. ``locate``
says where each message is now in the Redis broker's structures (dispatch.lua) or those rows.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.common import dq_name, xq_name

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


def purge() -> int:
    """Drop every message of the shop's queues, their delay and dead-letter queues included (the harness's reset
    between scenarios on a broker it cannot flush itself, RabbitMQ): Dramatiq's own ``broker.flush_all()``. The count
    is not reported by Dramatiq: 0."""
    dramatiq.get_broker().flush_all()
    return 0


def _on_rabbitmq(broker: Any) -> bool:
    """Whether the broker is Dramatiq's RabbitmqBroker (``SHOP_BROKER=rabbitmq``)."""
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return isinstance(broker, RabbitmqBroker)


def _dead_lettered(broker: Any, wanted: set[str]) -> tuple[dict[str, int], int]:
    """Dramatiq message ids of ``wanted`` found in the broker's dead-letter queues, per queue; and the DLQ sizes.

    dispatch.lua's ``nack`` keeps a dead message as ``<namespace>:<queue>.XQ`` (a sorted set of Redis message ids,
    scored by time) plus ``<queue>.XQ.msgs`` (a hash Redis message id → encoded message); the Dramatiq message id
    (the one ``send`` returned; retries keep it) is inside the encoded message.
    """
    if _on_rabbitmq(broker):
        return _dead_lettered_rabbitmq(broker, wanted)
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


def _dead_lettered_rabbitmq(broker: Any, wanted: set[str]) -> tuple[dict[str, int], int]:
    """The same on RabbitMQ: RabbitmqBroker's ``nack`` publishes a dead message to the queue ``<queue>.XQ`` (kept
    ``dead_message_ttl``, 7 days). AMQP cannot list a queue, so each message is fetched unacknowledged on a channel of
    its own and the channel is closed, which puts every one of them back where it was."""
    found: dict[str, int] = {}
    total = 0
    channel = broker.connection.channel()
    try:
        for queue in sorted({actor.queue_name for actor in ACTORS.values()}):
            while True:
                method, _properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
                if method is None:
                    break
                total += 1
                message_id = dramatiq.Message.decode(body).message_id
                if message_id in wanted:
                    found[message_id] = found.get(message_id, 0) + 1
    finally:
        channel.close()
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
        places.append(
            "RabbitMQ dead-letter queue <queue>.XQ (kept dead_message_ttl, 7 days)"
            if _on_rabbitmq(broker)
            else f"Redis dead-letter queue {broker.namespace}:<queue>.XQ (kept dead_message_ttl, 7 days)"
        )
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
        f"not dead-lettered: no message of these ids in {getattr(broker, 'namespace', 'RabbitMQ')}:<queue>.XQ"
        + (", no failed Task row" if admin_on else "")
    )
    return {"visible": bool(task_ids) and len(found) == len(wanted), "where": where, "detail": detail}


def _as_uuid(value: str) -> uuid.UUID | None:
    """``value`` as a UUID (Dramatiq message ids are UUIDs), or None when it is not one."""
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _location(where: str, detail: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, Any]:
    """One ``bench.contract.Location`` (a plain dict: the project does not import the harness)."""
    return {"where": where, "detail": detail, "returns_in_s": returns_in_s, "rule": rule}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: Preference when one message id has several Redis copies (a retry is a new Redis message with the same id).
_RANK = {"queued": 0, "reserved": 1, "scheduled": 2, "failed": 3, "nowhere": 4}


def _broker_places(broker: Any, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Where the Redis broker holds each wanted message (dispatch.lua's structures, ``<ns>`` = namespace).

    ``<ns>:<queue>`` and ``<ns>:<queue>.DQ`` are lists of *Redis* message ids (``options.redis_message_id``, a new
    one per enqueue, so a retry has a new one) with the encoded messages in the ``.msgs`` hashes; the Dramatiq
    ``message_id`` (what ``send`` returned) is inside the message. A worker's fetch moves the Redis id into the set
    ``<ns>:__acks__.<worker id>.<queue>`` until the ack; queue maintenance (run on ``maintenance_chance`` per million
    broker commands) moves the ack sets of workers whose heartbeat in ``<ns>:__heartbeats__`` is older than
    ``heartbeat_timeout`` back onto their queues. ``<ns>:<queue>.XQ`` holds dead letters.
    """
    client, ns = broker.client, broker.namespace
    queues = sorted({actor.queue_name for actor in ACTORS.values()})
    names = [name for q in queues for name in (q, dq_name(q))]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.lrange(f"{ns}:{name}", 0, -1)
        pipe.hgetall(f"{ns}:{name}.msgs")
    for q in queues:
        pipe.hgetall(f"{ns}:{xq_name(q)}.msgs")
    pipe.zrange(f"{ns}:__heartbeats__", 0, -1, withscores=True)
    answers = pipe.execute()
    ack_keys = [_text(k) for k in client.scan_iter(match=f"{ns}:__acks__.*", count=1000)]
    pipe = client.pipeline(transaction=False)
    for key in ack_keys:
        pipe.smembers(key)
    members = pipe.execute()
    now_ms = time.time() * 1000  # current_millis(), the clock dispatch.lua is given
    heartbeats = {_text(w): score for w, score in answers[-1]}
    timeout_ms, chance = broker.heartbeat_timeout, broker.maintenance_chance
    # The Redis id → (worker id, queue) of every ack set.
    held: dict[str, tuple[str, str]] = {}
    for key, ids in zip(ack_keys, members, strict=True):
        worker, _, queue = key[len(f"{ns}:__acks__.") :].partition(".")
        held.update({_text(i): (worker, queue) for i in ids})

    places: dict[str, dict[str, Any]] = {}

    def put(message_id: str, location: dict[str, Any]) -> None:
        old = places.get(message_id)
        if old is None or _RANK[location["where"]] < _RANK[old["where"]]:
            places[message_id] = location

    for i, name in enumerate(names):
        listed = {_text(r) for r in answers[2 * i]}
        delayed = name.endswith(".DQ")
        for redis_id, raw in answers[2 * i + 1].items():
            message = dramatiq.Message.decode(raw)
            if message.message_id not in wanted:
                continue
            redis_id = _text(redis_id)
            eta_ms = message.options.get("eta")
            due_s = None if eta_ms is None else round(max(0.0, (eta_ms - now_ms) / 1000), 3)
            eta_rule = "the message's eta (send_with_options(delay=...)); a worker's delay consumer then queues it"
            if redis_id in listed:
                if delayed:
                    put(
                        message.message_id,
                        _location("scheduled", f"Redis list '{ns}:{name}' (delay queue)", due_s, eta_rule),
                    )
                else:
                    put(message.message_id, _location("queued", f"Redis list '{ns}:{name}'"))
            elif redis_id in held:
                worker, queue = held[redis_id]
                beat = heartbeats.get(worker)
                back_s = None if beat is None else round(max(0.0, (beat + timeout_ms - now_ms) / 1000), 3)
                rule = (
                    f"heartbeat_timeout={timeout_ms} ms after the worker's last heartbeat, then the next queue "
                    f"maintenance (maintenance_chance={chance} per million broker commands of a running worker)"
                )
                detail = (
                    f"Redis set '{ns}:__acks__.{worker}.{queue}' (fetched by worker {worker}: running or prefetched; "
                    + (
                        "no heartbeat: maintenance never returns it)"
                        if beat is None
                        else f"last heartbeat {(now_ms - beat) / 1000:.1f} s ago)"
                    )
                )
                if delayed:
                    back = None if back_s is None else max(back_s, due_s or 0.0)
                    put(
                        message.message_id,
                        _location("scheduled", detail + ", held for its eta", back, rule + "; and its eta"),
                    )
                else:
                    put(message.message_id, _location("reserved", detail, back_s, rule))
            else:
                put(
                    message.message_id,
                    _location("nowhere", f"only in Redis hash '{ns}:{name}.msgs': in no list or ack set"),
                )
    for j, q in enumerate(queues):
        for raw in answers[2 * len(names) + j].values():
            message = dramatiq.Message.decode(raw)
            if message.message_id in wanted:
                put(message.message_id, _location("failed", f"Redis dead-letter queue '{ns}:{xq_name(q)}'"))
    return places


def _rabbitmq_places(broker: Any, wanted: set[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Where RabbitmqBroker's queues hold each wanted message, as far as the node names them: ready in ``<queue>``
    (queued), ``<queue>.DQ`` (scheduled: not yet fetched by a worker's delay consumer) or ``<queue>.XQ``
    (dead-lettered: failed), from a peek that leaves every message in place (shop/amqpinspect.py); and the
    node's unacknowledged-message counts as one line per queue (for the ids it does not name)."""
    from shop import amqpinspect
    from shop.conf import ShopEnv

    queues = sorted({actor.queue_name for actor in ACTORS.values()})
    names = [name for q in queues for name in (q, dq_name(q), xq_name(q))]
    now_ms = time.time() * 1000
    places: dict[str, dict[str, Any]] = {}

    def put(message_id: str, location: dict[str, Any]) -> None:
        old = places.get(message_id)
        if old is None or _RANK[location["where"]] < _RANK[old["where"]]:
            places[message_id] = location

    url = ShopEnv.from_environ().require_amqp_url()
    for name, messages in amqpinspect.peek(url, names).items():
        for raw in messages:
            body = raw.body if isinstance(raw.body, bytes) else str(raw.body).encode()
            message = dramatiq.Message.decode(body)
            if message.message_id not in wanted:
                continue
            if name.endswith(".XQ"):
                put(message.message_id, _location("failed", f"RabbitMQ dead-letter queue '{name}'"))
            elif name.endswith(".DQ"):
                eta_ms = message.options.get("eta")
                due_s = None if eta_ms is None else round(max(0.0, (eta_ms - now_ms) / 1000), 3)
                put(
                    message.message_id,
                    _location(
                        "scheduled",
                        f"RabbitMQ queue '{name}' (delay queue, ready: no worker's delay consumer fetched it yet)",
                        due_s,
                        "the message's eta (send_with_options(delay=...)); a worker's delay consumer then queues it",
                    ),
                )
            else:
                put(message.message_id, _location("queued", f"RabbitMQ queue '{name}' (ready)"))
    return places, names


def _held_unacknowledged(names: list[str], missing: list[str]) -> dict[str, dict[str, Any]]:
    """The messages of ``missing`` (not ready in any queue, not done or failed) as the node's counts place them.

    RabbitMQ counts the messages its consumers hold unacknowledged but names none of them. Dramatiq acknowledges a
    message after its actor ran, so a worker holds every message it prefetched or runs. If the node holds at least
    as many unacknowledged messages as are missing, each one is ``reserved``; if it holds none, each one is
    ``nowhere``; in between, which ones are held cannot be told (``unknown``).
    """
    from shop import amqpinspect

    try:
        counts = amqpinspect.queue_counts()
    except Exception as exc:
        error = f"rabbitmqctl list_queues failed: {type(exc).__name__}: {exc}"[:300]
        return {m: _location("unknown", error) for m in missing}
    if counts is None:
        why = "a user's RabbitMQ (--amqp-url): its unacknowledged messages cannot be counted without rabbitmqctl"
        return {m: _location("unknown", why) for m in missing}
    unacked = {name: counts[name][1] for name in names if name in counts}
    held = sum(unacked.values())
    shown = ", ".join(f"{name}: {n}" for name, n in unacked.items() if n) or "none"
    if held == 0:
        return {
            m: _location(
                "nowhere",
                "in no RabbitMQ queue, and the node holds no unacknowledged message of the "
                "shop's queues (rabbitmqctl list_queues)",
            )
            for m in missing
        }
    if held >= len(missing):
        timeout_s, rule = amqpinspect.consumer_timeout_s()
        detail = (
            f"held unacknowledged by a consumer: one of the {held} unacknowledged messages the node counts ({shown}; "
            "RabbitMQ counts them but names none: prefetched, running, or held by a delay consumer for its eta)"
        )
        return {m: _location("reserved", detail, timeout_s, rule) for m in missing}
    why = (
        f"{len(missing)} message(s) are in no RabbitMQ queue and the node holds {held} unacknowledged ({shown}): "
        "which of them it holds cannot be told (RabbitMQ counts unacknowledged messages but names none)"
    )
    return {m: _location("unknown", why) for m in missing}


def locate(task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each message is now: queued, reserved by a worker (its ack set), scheduled (delay queue), dead-lettered
    (failed), done/failed as django_dramatiq's Task rows say (AdminMiddleware: shipped/safe profiles), or nowhere.

    A message being processed stays unacknowledged until its actor ran, so ``reserved`` covers running and
    prefetched messages alike (the broker cannot tell them apart). On RabbitMQ the ready messages are named by a
    peek and the held ones only counted (:func:`_held_unacknowledged`). Never raises: a failed lookup is
    ``unknown``.
    """
    from django_dramatiq.middleware import AdminMiddleware

    broker = dramatiq.get_broker()
    rabbitmq = _on_rabbitmq(broker)
    names: list[str] = []
    try:
        if rabbitmq:
            places, names = _rabbitmq_places(broker, set(task_ids))
        else:
            places = _broker_places(broker, set(task_ids))
    except Exception as exc:  # the broker down or unreadable
        error = f"{'RabbitMQ' if rabbitmq else 'Redis'} broker lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {task_id: _location("unknown", error) for task_id in task_ids}
    rest = [task_id for task_id in dict.fromkeys(task_ids) if task_id not in places]
    admin_on = any(isinstance(m, AdminMiddleware) for m in broker.middleware)
    statuses: dict[str, str] = {}
    if rest and admin_on:
        try:
            from django_dramatiq.models import Task

            uuids = [u for u in map(_as_uuid, rest) if u is not None]
            statuses = {str(pk): status for pk, status in Task.tasks.filter(id__in=uuids).values_list("id", "status")}
        except Exception as exc:
            error = f"django_dramatiq Task lookup failed: {type(exc).__name__}: {exc}"[:300]
            places.update({task_id: _location("unknown", error) for task_id in rest})
            rest = []
    missing = []
    for task_id in rest:
        status = statuses.get(str(_as_uuid(task_id)))
        if status in ("done", "failed"):
            places[task_id] = _location(status, f"django_dramatiq Task row, status {status!r}")
        elif rabbitmq:
            missing.append(task_id)
        else:
            places[task_id] = _location(
                "nowhere",
                "in no Redis broker structure"
                + (f"; django_dramatiq Task row status {status!r}" if status else "")
                + ("" if admin_on else " (no AdminMiddleware: acked messages leave no record)"),
            )
    if missing:
        places.update(_held_unacknowledged(names, missing))
    return {task_id: places[task_id] for task_id in task_ids}
