"""Producer side of the database floor: one INSERT of a small JSON message per task (autocommit).

Not called ``queue.py``, as the Redis floor's client: the worker's working directory must not shadow ``queue``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from bench.baseline_db.db import TABLE, connect, placeholder

_conn = connect()
_INSERT = f"INSERT INTO {TABLE} (payload) VALUES ({placeholder()})"


def _enqueue(task: str) -> Callable[..., None]:
    def enqueue(*args: object, probe: str | None = None) -> None:
        _conn.execute(_INSERT, (json.dumps({"task": task, "args": args, "probe": probe}),))

    return enqueue


#: Task name → enqueue call, as in every backend's ``queue`` module.
ENQUEUE = {"noop": _enqueue("noop")}


def purge() -> int:
    """Delete every queued row (the harness's reset between scenarios); the count."""
    cursor = _conn.execute(f"DELETE FROM {TABLE}")
    return cursor.rowcount
