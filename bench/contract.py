"""The backend contract as code: what every ``projects/<name>/shop_<name>/queue.py`` answers.

The harness never imports a queue module itself (it runs in the backend's own Django environment, inside
``bench.producer`` or ``bench.agent``); this Protocol is what those processes call, and
``tests/test_contract.py`` checks every backend project against it. A new backend is a folder that implements
these answers; the harness asks them without knowing whose they are (docs/ARCHITECTURE.md).

Three questions only a library can answer about its own task ids:

* ``enqueue`` / ``enqueue_delayed``: put work on the queue now / later, through the library's idiomatic API;
* ``describe_failures``: where the library records a task whose retries are exhausted;
* ``locate``: where each task is now (in the broker's queue, reserved by a worker, scheduled, done, failed, or
  nowhere), and when the library would hand a reserved or scheduled task to a worker again with the active settings.

A fourth answer is given on the measurement channel instead of by a call: each project hooks its library's own
"done" signal (result stored, message acked, row final) and writes a ``C`` (confirmed) event for the task's probe,
so "done" is when the backend says done, with a timestamp (``shop.channel.CONFIRMED``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

#: Where a task can be, as its library's own structures show it.
Where = Literal["queued", "reserved", "scheduled", "done", "failed", "nowhere", "unknown"]
WHERE_VALUES: tuple[str, ...] = ("queued", "reserved", "scheduled", "done", "failed", "nowhere", "unknown")
#: Places from which the library itself would still run the task (a task found there after a fault is *stranded*,
#: not gone).
HELD: frozenset[str] = frozenset({"queued", "reserved", "scheduled"})


class Location(TypedDict):
    """One task's place.

    ``where``: ``queued`` (waiting in the broker for any worker), ``reserved`` (fetched or prefetched by a worker
    and held by the broker until acknowledged: Celery's ``unacked`` hash, Dramatiq's ``__acks__`` set of a worker),
    ``scheduled`` (waiting for its time: an ETA/delay structure, a schedule row), ``done`` / ``failed`` (the
    library's own record of the outcome), ``nowhere`` (the library holds it nowhere: a task only in a dead worker's
    memory), ``unknown`` (the lookup itself failed; ``detail`` says why).

    ``detail``: the structure, named as the library's docs or source name it (``"Redis list 'celery'"``).
    ``returns_in_s``: for ``reserved``/``scheduled``: seconds from now until the library would give the task to a
    worker again *if its current holder never does*, computed from the active settings (visibility timeout,
    heartbeat timeout, scheduler interval); ``None`` when it never would (a ``reserved`` task then counts as gone
    once its worker is dead: ``bench.faults.outcomes``) or it cannot be known.
    ``rule``: one line saying which setting produces ``returns_in_s`` (``"visibility_timeout=3600 s"``).
    """

    where: str
    detail: str
    returns_in_s: float | None
    rule: str


@runtime_checkable
class QueueModule(Protocol):
    """A backend project's ``queue`` module (docs/ARCHITECTURE.md, backend project contract)."""

    #: Task name → the library's own enqueue call (``task.delay``, ``actor.send``, a Huey task, ``async_task``).
    ENQUEUE: Mapping[str, Callable[..., object]]

    def enqueue(self, name: str, *args: Any, **kwargs: Any) -> str:
        """Enqueue task ``name`` now; the library's task id."""
        ...

    def enqueue_delayed(self, name: str, delay_s: float, *args: Any, **kwargs: Any) -> str:
        """Run task ``name`` ``delay_s`` seconds from now with the library's own delayed API; its id."""
        ...

    def describe_failures(self, task_ids: list[str]) -> dict[str, Any]:
        """``{"visible": bool, "where": str, "detail": dict}``: where exhausted failures are recorded; never raises."""
        ...

    def locate(self, task_ids: list[str]) -> dict[str, Location]:
        """Where each of ``task_ids`` is now (one :class:`Location` per id); never raises."""
        ...


@runtime_checkable
class DatabaseQueueModule(QueueModule, Protocol):
    """The queue module of a backend whose queue lives in the database (``broker = "database"`` in backend.toml)."""

    def purge(self) -> int:
        """Delete every task row; the count. The harness calls it where it flushes a Redis queue with Redis."""
        ...


def check_location(value: object) -> Location:
    """``value`` if it is a well-formed :class:`Location`, else ``ValueError`` saying what is wrong."""
    if not isinstance(value, dict):
        raise ValueError(f"a location must be a dict, got {type(value).__name__}")
    missing = {"where", "detail", "returns_in_s", "rule"} - set(value)
    if missing:
        raise ValueError(f"location lacks {sorted(missing)}: {value!r}")
    if value["where"] not in WHERE_VALUES:
        raise ValueError(f"location 'where' must be one of {WHERE_VALUES}, got {value['where']!r}")
    due = value["returns_in_s"]
    if due is not None and (not isinstance(due, int | float) or isinstance(due, bool)):
        raise ValueError(f"returns_in_s must be a number or None, got {due!r}")
    return value  # type: ignore[return-value]
