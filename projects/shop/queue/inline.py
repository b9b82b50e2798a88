"""A synchronous queue: runs the tracked task body in the calling process.

Used by the unit tests and handy when debugging pages without a broker. It behaves like a worker, not like a
function call: the body's exception is recorded (``TaskRun``, channel) and logged but not raised to the caller, and
the shop's retry policy is applied to ``flaky_retry`` and to SMTP errors of ``send_invoice_email``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from shop import jobs
from shop.tracking import tracked

logger = logging.getLogger(__name__)

#: Task name → exceptions that are retried with the shop's policy (``MAX_RETRIES`` retries, ``RETRY_DELAY_S`` apart).
RETRY_ON: dict[str, tuple[type[BaseException], ...]] = {
    "send_invoice_email": jobs.RETRYABLE_EMAIL_ERRORS,
    "flaky_retry": (jobs.FlakyError,),
}


def run(task_name: str, *args: Any, probe: str | None = None, **kwargs: Any) -> Any:
    """Run one task now, with retries, and return its result; raises the last attempt's exception."""
    try:
        body = jobs.TASKS[task_name]
    except KeyError:
        raise LookupError(f"unknown task {task_name!r}; known: {', '.join(sorted(jobs.TASKS))}") from None
    retry_on = RETRY_ON.get(task_name, ())
    retries = 0
    while True:
        try:
            with tracked(task_name, probe):
                return body(*args, **kwargs)
        except retry_on:
            if retries >= jobs.MAX_RETRIES:
                raise
            retries += 1
            time.sleep(jobs.RETRY_DELAY_S)


def enqueue(task_name: str, *args: Any, probe: str | None = None, **kwargs: Any) -> str:
    """``SHOP_QUEUE`` entry point: run the task in-process; returns a fresh task id."""
    if task_name not in jobs.TASKS:
        # Refused at enqueue time, as a real backend refuses a task it does not know.
        raise LookupError(f"unknown task {task_name!r}; known: {', '.join(sorted(jobs.TASKS))}")
    task_id = uuid.uuid4().hex
    try:
        run(task_name, *args, probe=probe, **kwargs)
    except Exception:
        logger.exception("inline task %s %s failed", task_name, task_id)
    return task_id
