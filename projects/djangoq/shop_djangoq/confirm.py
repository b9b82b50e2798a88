"""Done, as django-q2 counts it: the ``post_execute`` signal writes the ``C`` channel event of a probed task.

django-q2's workers only run task bodies; they hand each result to the cluster's single monitor process, which
(django_q/monitor.py ``monitor``) saves it with ``save_task`` (the Task/Success row, plus the ``save_limit`` prune),
acknowledges it on brokers that have acks (not Redis), and *then* sends ``post_execute``. That is the library's
global "done" hook: unlike a per-task ``hook=`` (called from the Task row's ``post_save``), it also fires when
``save_limit = -1`` keeps successful tasks out of the database (the tuned profile). ``save_task`` logs and swallows a
database error, so a ``C`` here means the monitor finished its bookkeeping for the task, as django-q2 itself does.
"""

from __future__ import annotations

from typing import Any

from django_q.signals import post_execute

from shop import channel


def confirm_done(sender: object = None, task: dict[str, Any] | None = None, **_: Any) -> None:
    """Write ``C`` for a successful probed task; runs in the monitor process, after the result was saved."""
    if not task or not task.get("success"):
        return
    probe = (task.get("kwargs") or {}).get("probe")
    if probe:
        channel.write_event(channel.CONFIRMED, probe)


def connect() -> None:
    """Connect the receiver (from the AppConfig, so the qcluster parent has it before it forks the monitor)."""
    post_execute.connect(confirm_done, dispatch_uid="shop_djangoq.confirm")
