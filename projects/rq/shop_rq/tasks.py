"""The shop's task bodies as RQ jobs (django-rq's ``@job`` decorator), each run inside ``shop.tracking.tracked``.

The shop's retry policy (up to 3 retries, 1 s apart) is RQ's native ``Retry(max=3, interval=1)``: a failed job with
retries left is put in the queue's ScheduledJobRegistry for now + 1 s, and the scheduler (every worker of
``rqworker-pool`` runs one; one holds the queue's lock) moves it back to the queue when due, polling every 1 s.
``Retry`` retries on any exception; ``send_invoice_email`` ends the retries of a non-SMTP error by setting the running
job's ``retries_left`` to 0 (the worker checks ``job.should_retry`` after the failure). Jobs without ``retry`` are
never retried (RQ's default).
"""

from __future__ import annotations

from typing import Any

from django_rq import job
from rq import Retry, get_current_job

from shop import jobs
from shop.tracking import tracked

MAX_RETRIES = jobs.MAX_RETRIES
#: RQ's Retry takes whole seconds.
RETRY_INTERVAL_S = int(jobs.RETRY_DELAY_S)
#: One Retry object per decorator: django-rq copies its max/intervals into every job it enqueues.
SHOP_RETRY = Retry(max=MAX_RETRIES, interval=RETRY_INTERVAL_S)


@job("default", retry=SHOP_RETRY)
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order; retried on SMTP/connection errors only."""
    try:
        with tracked("send_invoice_email", probe):
            return jobs.send_invoice_email(order_id)
    except jobs.RETRYABLE_EMAIL_ERRORS:
        raise
    except Exception:
        current = get_current_job()
        if current is not None:
            current.retries_left = 0  # final: RQ's Retry has no exception filter
        raise


@job("default")
def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final (no retry)."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


@job("default")
def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


@job("default")
def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


@job("default")
def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


@job("default")
def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; RQ's default behaviour (no retry)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


@job("default", retry=SHOP_RETRY)
def flaky_retry(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the shop's retry policy."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)
