"""The shop's task bodies as Celery tasks (``@shared_task``), each run inside ``shop.tracking.tracked``.

Retry policy of the shop (up to 3 retries, 1 s apart) in Celery's native form: ``autoretry_for`` with
``max_retries=3`` and ``default_retry_delay=1``. Without ``retry_backoff``, celery/app/autoretry.py calls
``task.retry(exc=exc)`` without a countdown, so the countdown is ``default_retry_delay`` (1 s, no jitter: jitter only
applies to backoff). Tasks without ``autoretry_for`` are never retried by Celery.

"Done, as Celery counts it" (docs/ARCHITECTURE.md): the ``task_success`` signal, which celery/app/trace.py sends
after ``backend.mark_as_done`` has stored the result (django-celery-results' TaskResult row in the shipped profile),
writes a ``C`` channel event for the task's probe.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import task_success

from shop import channel, jobs
from shop.tracking import tracked

#: The shop's policy: what send_invoice_email retries on (smtplib.SMTPException and connection errors: OSError).
SMTP_ERRORS = jobs.RETRYABLE_EMAIL_ERRORS
MAX_RETRIES = jobs.MAX_RETRIES
RETRY_DELAY_S = jobs.RETRY_DELAY_S


@task_success.connect
def confirm_done(sender: Task | None = None, **_: Any) -> None:
    """Write the ``C`` event of a probed task: sent by the tracer after the result was stored (``mark_as_done``).

    The tracer sends it in the pool process that ran the task, while the task's request is still current, so the
    probe is read from it; a task without a probe costs one dict lookup.
    """
    probe = (sender.request.kwargs or {}).get("probe") if sender is not None else None
    if probe:
        channel.write_event(channel.CONFIRMED, probe)


@shared_task(autoretry_for=SMTP_ERRORS, max_retries=MAX_RETRIES, default_retry_delay=RETRY_DELAY_S)
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order; retried on SMTP/connection errors."""
    with tracked("send_invoice_email", probe):
        return jobs.send_invoice_email(order_id)


@shared_task
def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final (no retry)."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


@shared_task
def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


@shared_task
def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


@shared_task
def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


@shared_task
def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; Celery's default behaviour (no retry at all)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


@shared_task(autoretry_for=(Exception,), max_retries=MAX_RETRIES, default_retry_delay=RETRY_DELAY_S)
def flaky_retry(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the shop's retry policy."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)
