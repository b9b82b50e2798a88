"""Django's Tasks framework from Django itself (6.0+) or from the ``django-tasks`` backport (Django 5.2): same API.

``BACKPORT`` says which one this interpreter has; the settings add the backport's app only when it is the one used.
"""

from importlib.util import find_spec

BACKPORT = find_spec("django.tasks") is None

if not BACKPORT:
    from django.tasks import TaskResultStatus, task
    from django.tasks.signals import task_finished
else:
    from django_tasks import TaskResultStatus, task  # type: ignore[no-redef]
    from django_tasks.signals import task_finished  # type: ignore[no-redef]

#: The logger Django's Tasks framework logs every task's start and end to.
TASKS_LOGGER = "django_tasks" if BACKPORT else "django.tasks"

__all__ = ["BACKPORT", "TASKS_LOGGER", "TaskResultStatus", "task", "task_finished"]
