"""How the shop enqueues work with django-q2: ``async_task("dotted.path", ...)`` (now) and a one-off ``Schedule``
(later: django-q2 has no delay/ETA option on ``async_task``).

``describe_failures`` reports where django-q2 itself records a failed task: its ``Task`` table (``Failure`` proxy,
``success=False``), which the cluster's monitor writes and the admin lists as "Failed tasks". ``locate`` says where
each task is now: the Redis list, a ``Schedule`` row, a ``Task`` row, or nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule, Task
from django_q.signing import SignedPackage
from django_q.tasks import async_task, schedule

from shop import jobs

#: Task name → django-q2's own enqueue call.
ENQUEUE: dict[str, Callable[..., object]] = {
    name: partial(async_task, f"shop_djangoq.tasks.{name}") for name in jobs.ENQUEUED
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


def _location(where: str, detail: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, Any]:
    """One ``bench.contract.Location`` (a plain dict: the project does not import the harness)."""
    return {"where": where, "detail": detail, "returns_in_s": returns_in_s, "rule": rule}


#: The cluster's sentinel runs the scheduler when its counter, advanced by ``guard_cycle`` seconds per loop, reaches
#: 30 (django_q/cluster.py ``Cluster.guard``: ``counter >= 30``; the 30 is not a setting).
SCHEDULER_EVERY_S = 30


def _in_memory() -> str:
    """What the live clusters say about their in-memory task queue (``Stat`` in Redis, refreshed every guard cycle)."""
    try:
        from django_q.status import Stat

        stats = Stat.get_all()
    except Exception as exc:  # only a detail: the answer does not depend on it
        return f"cluster stats unreadable ({type(exc).__name__})"
    if not stats:
        return "no live cluster in Redis stats"
    sizes = [str(getattr(s, "task_q_size", "?")) for s in stats]
    return (
        f"{len(stats)} live cluster(s) report {'/'.join(sizes)} task(s) in their in-memory queue "
        f"(queue_limit={Conf.QUEUE_LIMIT})"
    )


def _queued(wanted_ids: set[str], wanted_groups: set[str]) -> tuple[dict[str, str], str]:
    """Task id / schedule group → its place in the Redis broker's list (``django_q:<cluster name>:q``).

    django_q/brokers/redis_broker.py: ``async_task`` ``RPUSH``es a signed, pickled task package there; the cluster's
    pusher ``BLPOP``s it into an in-memory queue of the cluster, so a popped task is in no Redis structure.
    """
    broker = get_broker()
    found: dict[str, str] = {}
    for position, raw in enumerate(broker.connection.lrange(broker.list_key, 0, -1)):
        try:
            package = SignedPackage.loads(raw)
        except Exception:  # not a package of this project (another secret key): not one of ours
            continue
        place = f"Redis list {broker.list_key!r}, position {position}"
        if package.get("id") in wanted_ids:
            found.setdefault(package["id"], place)
        if str(package.get("group")) in wanted_groups:
            found.setdefault("schedule:" + str(package["group"]), place)
    return found, broker.list_key


def locate(task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Where each task is now: ``queued`` in the Redis list, ``scheduled`` (a ``Schedule`` row, for the
    ``"schedule:<pk>"`` ids of :func:`enqueue_delayed`), ``done``/``failed`` (a ``Task`` row, ``success``), or
    ``nowhere``.

    A task the cluster has popped (waiting in its in-memory queue or running) is in no Redis structure and has no
    row yet: ``nowhere`` -- not in Redis, in a worker's memory or lost. A ONCE schedule is deleted when the
    scheduler launches it; the launched task carries the schedule's id as its ``group``, which is how a
    ``schedule:<pk>`` id is followed afterwards. Successful tasks are not saved with ``save_limit=-1`` (tuned) and
    pruned beyond ``save_limit`` (250): such a done task is ``nowhere``. Never raises.
    """
    plain = {t for t in task_ids if not t.startswith("schedule:")}
    pks = {t.removeprefix("schedule:") for t in task_ids if t.startswith("schedule:")}
    try:
        queued, list_key = _queued(plain, pks)
    except Exception as exc:  # Redis down or unreadable
        error = f"Redis list lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {task_id: _location("unknown", error) for task_id in task_ids}
    try:
        schedules = {
            str(pk): (next_run, repeats)
            for pk, next_run, repeats in Schedule.objects.filter(pk__in=[p for p in pks if p.isdigit()]).values_list(
                "pk", "next_run", "repeats"
            )
        }
        rows = dict(Task.objects.filter(id__in=plain).values_list("id", "success"))
        by_group = {
            str(group): success
            for group, success in Task.objects.filter(group__in=pks).order_by("started").values_list("group", "success")
        }
    except Exception as exc:  # database unreachable
        error = f"django_q table lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {t: _location("queued", queued[t]) if t in queued else _location("unknown", error) for t in task_ids}
    now = timezone.now()
    scheduler = (
        f"Schedule.next_run, then a running cluster's next scheduler pass (every {SCHEDULER_EVERY_S} s, "
        f"guard_cycle={Conf.GUARD_CYCLE} s; django_q/cluster.py): up to {SCHEDULER_EVERY_S} s later"
    )
    answer: dict[str, dict[str, Any]] = {}
    memory: str | None = None
    for task_id in task_ids:
        pk = task_id.removeprefix("schedule:")
        success = by_group.get(pk) if task_id.startswith("schedule:") else rows.get(task_id)
        if task_id in queued:
            answer[task_id] = _location("queued", queued[task_id])
        elif task_id.startswith("schedule:") and pk in schedules and schedules[pk][1] != 0:
            next_run = schedules[pk][0]
            due = round(max(0.0, (next_run - now).total_seconds()), 3) if Conf.SCHEDULER else None
            answer[task_id] = _location(
                "scheduled",
                f"django_q Schedule row {pk}, next_run {next_run.isoformat()}"
                + ("" if Conf.SCHEDULER else " (the scheduler is off: Q_CLUSTER['scheduler']=False)"),
                due,
                scheduler,
            )
        elif success is not None:
            answer[task_id] = _location(
                "done" if success else "failed",
                f"django_q Task row, success={success}" + (f" (launched from Schedule {pk})" if pk != task_id else ""),
            )
        else:
            memory = memory if memory is not None else _in_memory()
            answer[task_id] = _location(
                "nowhere",
                f"not in Redis ({list_key!r}): in a worker's memory or lost; no django_q Task row"
                + (" and no Schedule row" if task_id.startswith("schedule:") else "")
                + f"; {memory}",
            )
    return answer
