"""Django's Tasks framework from Django itself (``django.tasks``, Django ≥ 6.0) or from its backport (``django_tasks``).

Both have the same API (``@task``, ``Task.enqueue``, ``Task.using(run_after=...)``, ``TASKS``). django-tasks-rq is
written against the backport (its backend subclasses ``django_tasks``' ``BaseTaskBackend`` and sends the backport's
signals) and accepts tasks of either (``django_tasks_rq.compat.TASK_CLASSES``), so the shop declares its tasks with
Django's own decorator where Django has one.
"""

from __future__ import annotations

import importlib.util

#: Which package provides ``@task`` here: ``"django.tasks"`` (Django ≥ 6.0) or ``"django_tasks"`` (the backport).
TASKS_API = "django.tasks" if importlib.util.find_spec("django.tasks") is not None else "django_tasks"

if TASKS_API == "django.tasks":
    from django.tasks import task
else:
    from django_tasks import task

__all__ = ["TASKS_API", "task"]
