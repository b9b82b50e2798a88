"""The backend-independent half of a ``django.tasks`` project's queue module (``bench/contract.py``): enqueue now
with ``Task.enqueue(...)``, later with ``Task.using(run_after=...).enqueue(...)``; a task's id is its
``TaskResult.id``. Each project's ``queue.py`` re-exports these and adds what depends on its backend: where a task
is (``locate``), where a failure is recorded (``describe_failures``), and how a delayed task comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from shop import jobs
from shop.dtasks import tasks

#: Task name → the Django Task object.
TASKS = {name: getattr(tasks, name) for name in jobs.ENQUEUED}
#: Task name → the framework's own enqueue call (``Task.enqueue``, which returns a ``TaskResult``).
ENQUEUE: dict[str, Callable[..., object]] = {name: task.enqueue for name, task in TASKS.items()}


def enqueue(name: str, *args: object, **kwargs: object) -> str:
    """Enqueue task ``name`` and return its id (the ``TaskResult``'s)."""
    return str(ENQUEUE[name](*args, **kwargs).id)  # type: ignore[attr-defined]


def enqueue_delayed(name: str, delay_s: float, *args: object, **kwargs: object) -> str:
    """Run task ``name`` ``delay_s`` seconds from now: ``Task.using(run_after=now + delay)``; its id."""
    delayed = TASKS[name].using(run_after=timezone.now() + timedelta(seconds=delay_s))
    return str(delayed.enqueue(*args, **kwargs).id)
