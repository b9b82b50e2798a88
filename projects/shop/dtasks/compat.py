"""Django's Tasks framework from Django itself (6.0+) or from the ``django-tasks`` backport (Django 5.2): same API."""

from shop.dtasks import BACKPORT

if not BACKPORT:
    from django.tasks import TaskResultStatus, task
    from django.tasks.signals import task_finished
else:
    from django_tasks import TaskResultStatus, task  # type: ignore[no-redef]
    from django_tasks.signals import task_finished  # type: ignore[no-redef]

__all__ = ["TaskResultStatus", "task", "task_finished"]
