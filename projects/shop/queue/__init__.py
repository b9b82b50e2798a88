"""Enqueueing from the shop: one call that goes to whichever backend the project configured.

``settings.SHOP_QUEUE`` is the dotted path of an ``enqueue(task_name, *args, **kwargs) -> str`` callable (each
backend's ``shop_<backend>.queue.enqueue``; ``shop.queue.inline.enqueue`` runs tasks in-process).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from shop.models import TaskRun

logger = logging.getLogger(__name__)

Enqueue = Callable[..., str]


class EnqueueFailed(Exception):
    """The backend refused the task (e.g. the broker is down); ``run`` is the ``TaskRun``, already marked failed."""

    def __init__(self, run: TaskRun, cause: BaseException) -> None:
        self.run = run
        self.cause = cause
        super().__init__(f"could not enqueue {run.task_name}: {type(cause).__name__}: {cause}")


@functools.cache
def _load(path: str) -> Enqueue:
    return import_string(path)


def get_enqueue() -> Enqueue:
    """The configured enqueue callable (imported once per dotted path)."""
    path = getattr(settings, "SHOP_QUEUE", None)
    if not path:
        raise ImproperlyConfigured("settings.SHOP_QUEUE is not set: the dotted path of the backend's enqueue()")
    return _load(path)


def enqueue(task_name: str, *args: Any, **kwargs: Any) -> str:
    """Enqueue ``task_name`` with the configured backend; returns the library's task/message id."""
    return str(get_enqueue()(task_name, *args, **kwargs))


def _summary(args: tuple[Any, ...]) -> str:
    text = ", ".join(repr(a) for a in args)
    return text if len(text) <= 255 else text[:254] + "…"


def submit(task_name: str, *args: Any) -> TaskRun:
    """Record a ``TaskRun`` and enqueue the task with the probe ``run:<pk>`` so that the worker updates it.

    Call it outside a transaction: the worker must be able to read the rows the task needs. Raises
    :class:`EnqueueFailed` (with the run marked failed) when the backend cannot take the task.
    """
    run = TaskRun.objects.create(
        task_name=task_name, backend=str(getattr(settings, "SHOP_BACKEND_NAME", "")), args_summary=_summary(args)
    )
    run.probe = f"run:{run.pk}"
    TaskRun.objects.filter(pk=run.pk).update(probe=run.probe)
    try:
        task_id = enqueue(task_name, *args, probe=run.probe)
    except Exception as exc:
        logger.warning("enqueue of %s failed: %r", task_name, exc)
        run.state = TaskRun.State.FAILED
        run.error = f"enqueue failed: {type(exc).__name__}: {exc}"
        TaskRun.objects.filter(pk=run.pk).update(state=run.state, error=run.error)
        raise EnqueueFailed(run, exc) from exc
    # Only the id: a fast worker (or the inline queue) may already have moved the state on.
    TaskRun.objects.filter(pk=run.pk).update(task_id=task_id)
    run.refresh_from_db()
    return run
