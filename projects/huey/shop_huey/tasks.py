"""The shop's task bodies as Huey tasks (``@db_task``), each run inside ``shop.tracking.tracked``.

The shop's retry policy (up to 3 retries, 1 s apart) is Huey's native ``@db_task(retries=3, retry_delay=1)``: a failed
task is put on the schedule with ``eta = now + 1 s`` and moved back to the queue by the consumer's scheduler, which
ticks every ``scheduler_interval`` (1 s) -- so a retry starts 1-2 s after the failure. Huey retries on any exception;
send_invoice_email turns non-SMTP errors into ``CancelExecution(retry=False)``, Huey's way to stop retrying. Tasks
without ``retries`` are never retried (Huey's default is ``retries=0``).

"Done, as Huey counts it" (docs/ARCHITECTURE.md): ``SIGNAL_COMPLETE``, which ``Huey._execute`` (huey/api.py) emits
after ``put_result`` stored the return value (only a non-None value is stored: ``store_none`` is off) and the
post-execute hooks ran; the message itself left Redis when the consumer popped it (Huey has no ack). The receiver
writes a ``C`` channel event for the task's probe.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from huey.api import Task
from huey.contrib.djhuey import HUEY, db_task, signal
from huey.exceptions import CancelExecution
from huey.signals import SIGNAL_COMPLETE, SIGNAL_INTERRUPTED

from shop import channel, jobs
from shop.tracking import tracked

MAX_RETRIES = jobs.MAX_RETRIES
RETRY_DELAY_S = jobs.RETRY_DELAY_S


@signal(SIGNAL_COMPLETE)
def confirm_done(_signal: str, task: Task, *_: object) -> None:
    """Write the ``C`` event of a probed task; Huey runs signal receivers in the worker that ran the task."""
    probe = task.kwargs.get("probe") if task.kwargs else None
    if probe:
        channel.write_event(channel.CONFIRMED, probe)


@db_task(retries=MAX_RETRIES, retry_delay=RETRY_DELAY_S)
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order; retried on SMTP/connection errors only."""
    try:
        with tracked("send_invoice_email", probe):
            return jobs.send_invoice_email(order_id)
    except jobs.RETRYABLE_EMAIL_ERRORS:
        raise
    except Exception as exc:
        raise CancelExecution(f"not retried: {exc!r}", retry=False) from exc


@db_task()
def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final (no retry)."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


@db_task()
def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


@db_task()
def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


@db_task()
def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


@db_task()
def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; Huey's default behaviour (no retry)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


@db_task(retries=MAX_RETRIES, retry_delay=RETRY_DELAY_S)
def flaky_retry(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the shop's retry policy."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)


if settings.SHOP_PROFILE == "safe":
    # Huey's at-least-once recipe (Signals guide, SIGNAL_INTERRUPTED: "the consumer was shutdown before the task
    # finished executing ... re-enqueue it"). It only helps on a shutdown the consumer sees (SIGTERM/SIGINT): a killed
    # process emits nothing, and its task is gone.
    @HUEY.signal(SIGNAL_INTERRUPTED)
    def requeue_interrupted(signal: str, task: Task, *args: object, **kwargs: object) -> None:
        """Put a task interrupted by the consumer's shutdown back on the queue."""
        HUEY.enqueue(task)
