"""How the shop enqueues work with Celery: ``task.delay`` (now) and ``task.apply_async(countdown=...)`` (later).

``describe_failures`` reports where Celery itself records a task whose retries are exhausted: its result backend
(django-celery-results ``TaskResult`` rows, what ``AsyncResult(id).state`` reads and the admin lists). ``locate``
says where each task is now: kombu's Redis structures (the queue lists, the ``unacked`` hash) or that result backend.
In the ``bare`` profile there is no result backend (Celery's default, ``DisabledBackend``) and django_celery_results
is not installed: a finished or failed task is then recorded nowhere.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import Task, states
from celery.backends.base import DisabledBackend
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


def purge() -> int:
    """Delete every message waiting in Celery's queues (the harness's reset between scenarios on a broker it cannot
    flush itself, RabbitMQ); the count. ``app.control.purge()`` is ``celery purge``: it reaches the broker through
    kombu, whichever broker that is."""
    return int(app.control.purge() or 0)


def _on_rabbitmq() -> bool:
    """Whether Celery's broker is RabbitMQ (``SHOP_BROKER=rabbitmq``: an ``amqp://`` URL, py-amqp transport)."""
    return str(app.conf.broker_url).startswith(("amqp", "pyamqp"))


def _results_stored() -> bool:
    """Whether a result backend is configured (shipped, tuned, safe: django-db); bare has none (Celery's default)."""
    return not isinstance(app.backend, DisabledBackend)


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
    if not _results_stored():
        where = "nowhere: no result backend is configured (Celery's default), the failure is a worker log line only"
        return {"visible": False, "where": where, "detail": detail}
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


def _location(where: str, detail: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, Any]:
    """One ``bench.contract.Location`` (a plain dict: the project does not import the harness)."""
    return {"where": where, "detail": detail, "returns_in_s": returns_in_s, "rule": rule}


def _message_id(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """Celery's task id and ETA in a kombu message as stored in Redis (task protocol 2: ``headers.id``)."""
    headers = payload.get("headers") or {}
    task_id = headers.get("id") or (payload.get("properties") or {}).get("correlation_id")
    return task_id, headers.get("eta")


def _broker_places(wanted: set[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Where kombu's Redis transport holds each wanted task: a queue list or the ``unacked`` hash.

    kombu/transport/redis.py: a published message is ``LPUSH``ed on the queue's list (``<queue>`` plus
    ``<queue><sep><priority>`` lists for priorities 3, 6, 9); a worker that fetches it (``BRPOP``) records it in the
    ``unacked`` hash (delivery tag → ``[message, exchange, routing key]``) and the ``unacked_index`` sorted set
    (delivery tag → time of delivery) until it acknowledges it -- when the task *starts* (acks_late off) or ends
    (acks_late on). Each worker sweeps entries older than ``visibility_timeout`` back onto their queue.
    """
    places: dict[str, dict[str, Any]] = {}
    conn = app.connection_for_read()
    try:
        conn.connect()  # one attempt: a Redis that is down is an error now, not a retry loop
        channel = conn.channel()
        try:
            client = channel.client
            timeout = float(channel.visibility_timeout)
            sweep = channel.unacked_restore_interval * channel.unacked_restore_throttle
            queues = sorted(app.amqp.queues) or [app.conf.task_default_queue]
            lists = list(dict.fromkeys(channel._q_for_pri(q, p) for q in queues for p in channel.priority_steps))
            pipe = client.pipeline()
            for key in lists:
                pipe.lrange(key, 0, -1)
            pipe.hgetall(channel.unacked_key)
            pipe.zrange(channel.unacked_index_key, 0, -1, withscores=True)
            *contents, unacked, index = pipe.execute()
        finally:
            channel.close()
    finally:
        conn.release()
    now = time.time()
    for key, raws in zip(lists, contents, strict=True):
        for raw in raws:
            task_id, eta = _message_id(json.loads(raw))
            if task_id in wanted and task_id not in places:
                places[task_id] = _location(
                    "queued",
                    f"Redis list {key!r} (kombu queue)"
                    + (f", ETA {eta}: a worker will hold it until then" if eta else ""),
                )
    delivered = {_text(tag): score for tag, score in index}
    rule = (
        f"visibility_timeout={timeout:g} s (broker_transport_options), then a running worker's sweep (every "
        f"unacked_restore_interval x unacked_restore_throttle = {sweep:g} s); a warm shutdown of its holder restores it"
    )
    for tag, value in unacked.items():
        payload = json.loads(value)[0]
        task_id, eta = _message_id(payload)
        if task_id not in wanted or task_id in places:
            continue
        since = delivered.get(_text(tag))
        age = None if since is None else now - since
        places[task_id] = _location(
            "reserved",
            f"Redis hash {channel.unacked_key!r} (delivered to a worker"
            + (f" {age:.1f} s ago" if age is not None else ", not in unacked_index")
            + ", not yet acknowledged: prefetched, held for its ETA, or running with acks_late"
            + (f"; ETA {eta})" if eta else ")"),
            None if age is None else round(max(0.0, timeout - age), 3),
            rule,
        )
    return places, {"visibility_timeout": timeout}


def _rabbitmq_places(wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Where RabbitMQ and Celery's workers hold each wanted task: ready in a queue (the node's own view, from a peek
    that leaves every message in place: shop/amqpinspect.py), or delivered to a worker and not yet acknowledged.

    RabbitMQ counts a consumer's unacknowledged messages but names none of them, so the held ones are named by
    Celery's remote control (``inspect``; each worker's main process answers, also while every pool process runs a
    task): ``scheduled`` (held for an ETA), ``reserved`` (prefetched) and ``active`` (running; acknowledged already
    unless acks_late, and then held in the worker's memory only). The node takes back what a consumer holds when
    its connection closes (a dead worker) or after ``consumer_timeout``.
    """
    from shop import amqpinspect

    places: dict[str, dict[str, Any]] = {}
    queues = sorted(app.amqp.queues) or [app.conf.task_default_queue]
    for queue, messages in amqpinspect.peek(str(app.conf.broker_url), queues).items():
        for message in messages:
            task_id, eta = _message_id({"headers": amqpinspect.headers(message), "properties": message.properties})
            if task_id in wanted and task_id not in places:
                places[task_id] = _location(
                    "queued",
                    f"RabbitMQ queue {queue!r} (ready)"
                    + (f", ETA {eta}: a worker will hold it until then" if eta else ""),
                )
    timeout: list[tuple[float, str]] = []  # the node's consumer_timeout, read once when a task is held
    inspector = app.control.inspect(timeout=1.0)
    for kind in ("scheduled", "reserved", "active"):
        for worker, entries in (getattr(inspector, kind)() or {}).items():
            for entry in entries:
                request = entry.get("request", entry)  # scheduled(): {"eta": ..., "request": {...}}
                task_id = request.get("id")
                if task_id not in wanted or task_id in places:
                    continue
                if kind == "active" and request.get("acknowledged"):
                    places[task_id] = _location(
                        "nowhere",
                        f"running in worker {worker}, acknowledged when it started (acks_late off): no broker holds "
                        "it, only the worker's memory",
                    )
                    continue
                what = {
                    "scheduled": f"held for its ETA {entry.get('eta')}",
                    "reserved": "prefetched",
                    "active": "running, acknowledged when it ends (acks_late)",
                }[kind]
                timeout = timeout or [amqpinspect.consumer_timeout_s()]
                places[task_id] = _location(
                    "reserved",
                    f"delivered to worker {worker} and not acknowledged: {what} (Celery inspect {kind}())",
                    *timeout[0],
                )
    return places


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def locate(task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each task is now: in kombu's Redis queue, reserved by a worker (``unacked``), done/failed in the result
    backend (django-celery-results ``TaskResult``), or nowhere.

    With acks_late off (Celery's default) a worker acknowledges a message when the task *starts*: a running task is
    then in no broker structure and has no result yet, so it is ``nowhere``. ``apply_async(countdown=...)`` messages
    are published to the queue at once (``queued`` with an ETA) and held by the worker that fetched them
    (``reserved``). Never raises: a failed lookup is ``unknown`` with the error.
    """
    wanted = set(task_ids)
    try:
        places = _rabbitmq_places(wanted) if _on_rabbitmq() else _broker_places(wanted)[0]
    except Exception as exc:  # the broker down or unreadable: say so, for every id
        broker = "RabbitMQ" if _on_rabbitmq() else "kombu Redis"
        error = f"{broker} lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {task_id: _location("unknown", error) for task_id in task_ids}
    rest = [task_id for task_id in dict.fromkeys(task_ids) if task_id not in places]
    statuses: dict[str, str] = {}
    stored = _results_stored()
    if rest and stored:
        try:
            from django_celery_results.models import TaskResult

            statuses = dict(TaskResult.objects.filter(task_id__in=rest).values_list("task_id", "status"))
        except Exception as exc:
            error = f"result backend lookup failed: {type(exc).__name__}: {exc}"[:300]
            places.update({task_id: _location("unknown", error) for task_id in rest})
            rest = []
    ignored = bool(app.conf.task_ignore_result)
    for task_id in rest:
        status = statuses.get(task_id)
        if status == states.SUCCESS:
            places[task_id] = _location("done", "django_celery_results TaskResult row, status SUCCESS")
        elif status in (states.FAILURE, states.REVOKED):
            places[task_id] = _location("failed", f"django_celery_results TaskResult row, status {status}")
        else:
            places[task_id] = _location(
                "nowhere",
                (
                    "in no RabbitMQ queue and held by no worker (Celery's inspect)"
                    if _on_rabbitmq()
                    else "in no kombu Redis structure"
                )
                + " (a running task is acknowledged already unless acks_late) and "
                + (
                    "no result backend (Celery's default: a finished task is recorded nowhere)"
                    if not stored
                    else (f"TaskResult status {status}" if status else "no TaskResult row")
                    + (" (task_ignore_result=True stores none)" if ignored and not status else "")
                ),
            )
    return {task_id: places[task_id] for task_id in task_ids}
