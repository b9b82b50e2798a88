"""The shop's task bodies as Django Tasks (``@task``), each run inside ``shop.tracking.tracked``: the same module,
and so the same task paths (``shop.dtasks.tasks.<name>``), on every ``django.tasks`` backend.

Django's Tasks framework has no retries, and none of the backends adds any: ``flaky_retry`` behaves exactly like
``flaky_default`` and ``send_invoice_email`` is not retried on SMTP errors. The shop's retry policy has no
equivalent here; that is measured and reported, not worked around.

Done, as a backend counts it: each backend sends the framework's ``task_finished`` once it has recorded the result;
:func:`confirm_done` then writes the confirmed event (``C``) for the task's probe. Each project's app connects it to
the signal its backend sends (:func:`connect_confirmation`), in every process, before the first task finishes.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from shop import channel, jobs
from shop.dtasks.compat import TaskResultStatus, task
from shop.tracking import tracked


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


def confirm_done(sender: object, task_result: Any, **kwargs: object) -> None:
    """``task_finished`` receiver: write ``C <probe>`` for a task the backend reports SUCCESSFUL.

    The status is compared by value: a backend written against the backport (django-tasks-rq) reports the backport's
    ``TaskResultStatus`` also where the framework is Django's own.
    """
    probe = (task_result.kwargs or {}).get("probe")
    if isinstance(probe, str) and task_result.status == TaskResultStatus.SUCCESSFUL:
        channel.write_event(channel.CONFIRMED, probe)


def connect_confirmation(task_finished: Signal) -> None:
    """Connect :func:`confirm_done` to the ``task_finished`` signal the project's backend sends (once per process)."""
    task_finished.connect(confirm_done, dispatch_uid="shop.dtasks.confirm_done")
