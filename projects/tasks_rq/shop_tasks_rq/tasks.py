"""The shop's task bodies as Django Tasks (``@task``), each run inside ``shop.tracking.tracked``.

``@task`` comes from ``django.tasks`` on Django ≥ 6.0 and from the ``django_tasks`` backport before (``compat``).
django.tasks has no retries, and django-tasks-rq creates its RQ jobs without RQ's ``Retry``: no task is ever retried,
so ``flaky_retry`` behaves like ``flaky_default`` and ``send_invoice_email`` is not retried on SMTP errors (README.md).
"""

from __future__ import annotations

from typing import Any

from shop import jobs
from shop.tracking import tracked
from shop_tasks_rq.compat import task


@task()
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order (no retry: the framework has none)."""
    with tracked("send_invoice_email", probe):
        return jobs.send_invoice_email(order_id)


@task()
def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


@task()
def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


@task()
def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


@task()
def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


@task()
def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the framework's default behaviour (no retry)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


@task()
def flaky_retry(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the shop's retry policy cannot be expressed: the same as ``flaky_default``."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)
