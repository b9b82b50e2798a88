"""App config of the django.tasks + RQ project: connects the shop's confirmed-done receiver."""

from __future__ import annotations

from django.apps import AppConfig


class ShopTasksRqConfig(AppConfig):
    """Connects ``shop.dtasks``' receiver in every process (the worker runs ``django.setup()`` before forking)."""

    name = "shop_tasks_rq"

    def ready(self) -> None:
        """django-tasks-rq sends the backport's ``task_finished`` (whichever API declared the task) from RQ's
        ``on_success`` / ``on_failure`` callbacks, which RQ runs in the work horse right after the function returned
        and *before* it stores the result and the FINISHED status -- so this "done" precedes RQ's own bookkeeping
        (README.md)."""
        from django_tasks.signals import task_finished

        from shop.dtasks.tasks import connect_confirmation

        connect_confirmation(task_finished)
