"""``tracked(task_name, probe)``: the one wrapper every backend puts around every task body.

It writes measurement-channel events when ``SHOP_CHANNEL_DIR`` is set and a probe is given, and keeps the shop's
``TaskRun`` row up to date when the probe is ``run:<pk>``. It sits in the measured path, so without a ``run:``
probe it does no database work and costs a couple of function calls.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from shop import channel

logger = logging.getLogger(__name__)

RUN_PREFIX = "run:"
_ERROR_MAX_CHARS = 4000


def run_pk(probe: str | None) -> int | None:
    """The ``TaskRun`` primary key of a ``run:<pk>`` probe, else ``None``."""
    if probe is None or not probe.startswith(RUN_PREFIX):
        return None
    try:
        return int(probe[len(RUN_PREFIX) :])
    except ValueError:
        return None


def describe_error(exc: BaseException) -> str:
    """A short text for the task runs page: the exception line and the innermost frames."""
    text = "".join(traceback.format_exception(exc, limit=-3))
    return text[-_ERROR_MAX_CHARS:]


def _run_started(pk: int) -> None:
    from django.db.models import F
    from django.utils import timezone

    from shop.models import TaskRun

    TaskRun.objects.filter(pk=pk).update(
        state=TaskRun.State.RUNNING, attempts=F("attempts") + 1, started_at=timezone.now(), finished_at=None, error=""
    )


def _run_finished(pk: int, error: BaseException | None) -> None:
    from django.utils import timezone

    from shop.models import TaskRun

    if error is None:
        TaskRun.objects.filter(pk=pk).update(state=TaskRun.State.SUCCEEDED, finished_at=timezone.now())
    else:
        TaskRun.objects.filter(pk=pk).update(
            state=TaskRun.State.FAILED, finished_at=timezone.now(), error=describe_error(error)
        )


def _safely(action: str, fn: Callable[..., None], pk: int, *args: object) -> None:
    # Bookkeeping must never turn a task's success into a failure (nor hide the task's own exception).
    try:
        fn(pk, *args)
    except Exception:
        logger.exception("could not record %s of task run %s", action, pk)


@contextmanager
def tracked(task_name: str, probe: str | None) -> Iterator[None]:
    """Run the body of one attempt of ``task_name``: channel events S/F/E and ``TaskRun`` updates; re-raises.

    ``BaseException`` is caught too (a worker's time limit or shutdown interrupts the body that way) so that the
    attempt is recorded as failed before it propagates.
    """
    if probe is None:
        yield
        return
    pk = run_pk(probe)
    channel.write_event(channel.STARTED, probe)
    if pk is not None:
        _safely("the start", _run_started, pk)
    try:
        yield
    except BaseException as exc:
        channel.write_event(channel.ERROR, probe)
        if pk is not None:
            _safely("the failure", _run_finished, pk, exc)
        raise
    channel.write_event(channel.FINISHED, probe)
    if pk is not None:
        _safely("the success", _run_finished, pk, None)
