"""How the shop enqueues work with Django's Tasks framework on django-tasks-db: the shared ``shop.dtasks`` tasks,
``Task.enqueue(...)`` now and ``Task.using(run_after=...).enqueue(...)`` later (``shop.dtasks.queue``). Each enqueue
INSERTs one ``DBTaskResult`` row (status READY); its UUID is the task id. A delayed row is READY at once: db_worker's
``ready()`` query only selects it when ``run_after <= now``, at the next poll of an idle worker (every ``--interval``
= 1 s) or right after a busy worker's current task.

Everything the harness asks about a task is read from that row (the library's own record): ``locate`` maps its
status to a place, ``describe_failures`` counts FAILED rows. ``purge`` deletes every row: the queue lives in the
shop's database, so the harness's between-scenario Redis flush does not empty it.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from bench.contract import Location
from shop.dtasks.compat import TaskResultStatus
from shop.dtasks.queue import ENQUEUE, enqueue, enqueue_delayed

__all__ = ["ENQUEUE", "describe_failures", "enqueue", "enqueue_delayed", "locate", "purge"]

TABLE = DBTaskResult._meta.db_table
#: db_worker's ``--interval`` default: how long an idle worker sleeps before it polls the table again.
POLL_INTERVAL_S = 1.0


def _rows(task_ids: list[str]) -> dict[str, DBTaskResult]:
    """The task rows of ``task_ids``; an id that is no UUID (the model's primary key) cannot have one."""
    valid = [task_id for task_id in task_ids if _is_uuid(task_id)]
    return {str(row.id): row for row in DBTaskResult.objects.filter(id__in=valid)}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def describe_failures(task_ids: list[str]) -> dict[str, Any]:
    """Where django-tasks-db records these tasks' failure: their ``DBTaskResult`` rows, status FAILED, with the
    exception's class path and traceback (admin: Task Results). ``visible``: every id has a FAILED row."""
    detail: dict[str, Any] = {"ids": len(task_ids)}
    try:
        rows = _rows(task_ids)
    except Exception as exc:  # database unreachable or a malformed id: say so instead of breaking the scenario
        detail["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return {"visible": False, "where": f"{TABLE} lookup failed", "detail": detail}
    failed = [row for row in rows.values() if row.status == TaskResultStatus.FAILED]
    detail.update(
        failed_rows=len(failed),
        other_rows=len(rows) - len(failed),
        missing=len(task_ids) - len(rows),
        error_sample=[row.exception_class_path for row in failed[:1]],
    )
    if failed:
        where = f"{TABLE} rows with status FAILED (exception class and traceback; admin: Task Results)"
    else:
        where = f"not recorded as failed in {TABLE}"
    return {"visible": bool(task_ids) and len(failed) == len(task_ids), "where": where, "detail": detail}


def _locate_row(row: DBTaskResult | None, now: Any) -> Location:
    if row is None:
        return {"where": "nowhere", "detail": f"no row in {TABLE}", "returns_in_s": None, "rule": ""}
    status = row.status
    if status == TaskResultStatus.READY:
        if row.run_after != get_date_max() and row.run_after > now:
            return {
                "where": "scheduled",
                "detail": f"{TABLE} row READY, run_after {row.run_after.isoformat()}",
                "returns_in_s": (row.run_after - now).total_seconds(),
                "rule": f"run_after; then picked at a worker's next poll (db_worker --interval {POLL_INTERVAL_S:g} s)",
            }
        return {"where": "queued", "detail": f"{TABLE} row READY", "returns_in_s": None, "rule": ""}
    if status == TaskResultStatus.RUNNING:
        return {
            "where": "reserved",
            "detail": f"{TABLE} row RUNNING, claimed by worker {', '.join(row.worker_ids)}",
            "returns_in_s": None,
            "rule": "never: db_worker claims only READY rows and nothing resets the RUNNING row of a dead worker",
        }
    if status == TaskResultStatus.SUCCESSFUL:
        return {"where": "done", "detail": f"{TABLE} row SUCCESSFUL", "returns_in_s": None, "rule": ""}
    if status == TaskResultStatus.FAILED:
        return {"where": "failed", "detail": f"{TABLE} row FAILED", "returns_in_s": None, "rule": ""}
    return {"where": "unknown", "detail": f"{TABLE} row in status {status!r}", "returns_in_s": None, "rule": ""}


def locate(task_ids: list[str]) -> dict[str, Location]:
    """Where each task is: its ``DBTaskResult`` row's status (READY → queued, or scheduled while ``run_after`` is in
    the future; RUNNING → reserved, for good if its worker died; SUCCESSFUL → done; FAILED → failed; no row →
    nowhere). Never raises: a failed lookup is ``unknown`` for every id."""
    try:
        rows = _rows(task_ids)
        now = timezone.now()
        return {task_id: _locate_row(rows.get(task_id), now) for task_id in task_ids}
    except Exception as exc:
        detail = f"{TABLE} lookup failed: {type(exc).__name__}: {exc}"[:300]
        return {
            task_id: {"where": "unknown", "detail": detail, "returns_in_s": None, "rule": ""} for task_id in task_ids
        }


def purge() -> int:
    """Delete every task row (queued, running, finished): the harness's reset between scenarios; the count."""
    deleted, _ = DBTaskResult.objects.all().delete()
    return deleted
