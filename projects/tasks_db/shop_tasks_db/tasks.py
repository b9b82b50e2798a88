"""The shop's task bodies as Django Tasks (``@task``), each run inside ``shop.tracking.tracked``.

Run by django-tasks-db's ``db_worker``. Django's Tasks framework has no retries (a failed task's row is FAILED, and
nothing runs it again), so ``flaky_retry`` behaves exactly like ``flaky_default`` and ``send_invoice_email`` is not
retried on SMTP errors: the shop's retry policy has no equivalent here (README.md). That is measured and reported,
not worked around.

Done, as the backend counts it: ``db_worker`` saves the result row (``set_successful``) and only then sends
``task_finished``; the receiver below writes the confirmed event (``C``) for the task's probe at that moment.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from shop import channel, jobs
from shop.tracking import tracked
from shop_tasks_db.compat import TaskResultStatus, task, task_finished


@task()
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order (no retry: django.tasks has none)."""
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
    """The shop's retry policy cannot be expressed with django.tasks: identical to ``flaky_default``."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)


@receiver(task_finished, dispatch_uid="shop_tasks_db.confirm_done")
def confirm_done(sender: object, task_result: Any, **kwargs: object) -> None:
    """Write ``C`` for a successful task's probe: sent by db_worker after the SUCCESSFUL row was saved."""
    probe = task_result.kwargs.get("probe")
    if probe and task_result.status == TaskResultStatus.SUCCESSFUL:
        channel.write_event(channel.CONFIRMED, probe)
