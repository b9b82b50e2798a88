"""App config of the django.tasks + RQ project: connects the confirmed-done channel event."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def confirm_finished(sender: object, task_result: Any, **kwargs: object) -> None:
    """``task_finished`` receiver: write ``C <probe>`` for a task the backend reports SUCCESSFUL.

    django-tasks-rq sends ``task_finished`` from RQ's ``on_success`` / ``on_failure`` callbacks (its
    ``success_callback``), which RQ runs in the work horse right after the function returned and *before* it stores
    the result and the FINISHED status -- so this "done" precedes RQ's own bookkeeping (README.md).
    """
    from django_tasks import TaskResultStatus

    from shop.channel import CONFIRMED, write_event

    probe = (task_result.kwargs or {}).get("probe")
    if isinstance(probe, str) and task_result.status == TaskResultStatus.SUCCESSFUL:
        write_event(CONFIRMED, probe)


class ShopTasksRqConfig(AppConfig):
    """Connects :func:`confirm_finished` in every process (the worker runs ``django.setup()`` before forking)."""

    name = "shop_tasks_rq"

    def ready(self) -> None:
        """Connect to django-tasks-rq's signal (the backport's ``task_finished``, whichever API declared the task)."""
        from django_tasks.signals import task_finished

        task_finished.connect(confirm_finished, dispatch_uid="shop_tasks_rq.confirm_finished")
