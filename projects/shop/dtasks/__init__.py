"""The shop's tasks on Django's Tasks framework: one task module for every ``django.tasks`` backend.

The framework promises that the same task code runs on any backend; the ``tasks_db``, ``tasks_huey`` and
``tasks_rq`` projects hold that promise by sharing this package and keeping only their settings and queue wiring:

- :mod:`shop.dtasks.compat`: ``task``, ``TaskResultStatus`` and ``task_finished`` from ``django.tasks`` (Django 6.0+)
  or from the ``django-tasks`` backport (Django 5.2): the same API.
- :mod:`shop.dtasks.tasks`: the shop's task bodies as ``@task`` functions, each run inside ``shop.tracking.tracked``,
  and :func:`~shop.dtasks.tasks.confirm_done`, the receiver that writes the confirmed-done channel event.
- :mod:`shop.dtasks.queue`: the backend-independent half of a queue module (``ENQUEUE``, ``enqueue``,
  ``enqueue_delayed``); each project's ``queue.py`` adds ``locate`` and ``describe_failures`` for its backend.

This module imports no part of the framework: settings read :data:`FRAMEWORK_APPS` and :func:`tasks_setting` from it.
"""

from __future__ import annotations

from importlib.util import find_spec

from shop.conf import NonDefaultSettings

#: Whether the framework is the ``django-tasks`` backport (``django_tasks``): Django before 6.0 has no ``django.tasks``.
BACKPORT = find_spec("django.tasks") is None
#: The framework's own app for ``INSTALLED_APPS``: the backport's (system checks, log receivers), as its README asks;
#: Django 6 has ``django.tasks`` built in.
FRAMEWORK_APPS = ["django_tasks"] if BACKPORT else []


def tasks_setting(bench_settings: NonDefaultSettings, backend: str, **options: object) -> dict[str, dict[str, object]]:
    """Django's ``TASKS`` setting with ``backend`` (and its ``options``) as the default backend, recorded in the
    project's ``BENCH_SETTINGS``: the framework's default is its ``ImmediateBackend``, which runs tasks in the
    caller."""
    bench_settings.differs(
        "TASKS['default']['BACKEND']", backend, "ImmediateBackend (runs tasks in the caller)", "the backend under test"
    )
    return {"default": {"BACKEND": backend, **options}}
