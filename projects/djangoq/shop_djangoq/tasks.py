"""The shop's task bodies as django-q2 task functions, each run inside ``shop.tracking.tracked``.

django-q2 has no per-task retry option, and on the Redis broker it has no retry at all: the cluster pops a task with
BLPOP and never acknowledges it, so ``retry``/``max_attempts``/``ack_failures`` (which re-deliver unacknowledged
tasks) only work with the ORM/SQS/IronMQ/MongoDB brokers. A failed task is saved as a Failure and that is the end.

So the shop's retry policy (up to 3 retries, 1 s apart) is written the way a django-q2 user would: the task catches
the retryable error, creates a one-off ``Schedule`` with ``next_run = now + 1 s`` (django-q2's only way to run
something later) carrying ``retries_done + 1``, and re-raises so that this attempt is recorded as failed.
**The delay is not 1 s**: schedules are only looked at by the cluster's sentinel every 30 s (``Cluster.guard``:
``counter >= 30``, not configurable), so a retry starts 1-31 s after the failure, typically ~15 s.

Functions without the policy are never retried.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import schedule

from shop import jobs
from shop.tracking import tracked

MAX_RETRIES = jobs.MAX_RETRIES
RETRY_DELAY = timedelta(seconds=jobs.RETRY_DELAY_S)


@contextmanager
def retry_later(
    name: str,
    args: tuple[object, ...],
    probe: str | None,
    retries_done: int,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
) -> Iterator[None]:
    """On a ``retry_on`` error, schedule task ``name`` again in ``RETRY_DELAY`` (if retries are left) and re-raise."""
    try:
        yield
    except retry_on:
        if retries_done < MAX_RETRIES:
            schedule(
                f"{__name__}.{name}",
                *args,
                probe=probe,
                retries_done=retries_done + 1,
                schedule_type=Schedule.ONCE,
                next_run=timezone.now() + RETRY_DELAY,
            )
        raise


def send_invoice_email(order_id: int, probe: str | None = None, retries_done: int = 0) -> dict[str, Any]:
    """Send the invoice of an order; retried (via a schedule) on SMTP/connection errors."""
    with (
        retry_later("send_invoice_email", (order_id,), probe, retries_done, jobs.RETRYABLE_EMAIL_ERRORS),
        tracked("send_invoice_email", probe),
    ):
        return jobs.send_invoice_email(order_id)


def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final (no retry)."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; django-q2's default behaviour (no retry)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


def flaky_retry(key: str, fail_times: int, probe: str | None = None, retries_done: int = 0) -> int:
    """Fail ``fail_times`` times; the shop's retry policy (via a schedule, see the module docstring)."""
    with retry_later("flaky_retry", (key, fail_times), probe, retries_done), tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)
