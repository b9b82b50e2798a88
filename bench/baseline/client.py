"""Producer side of the Redis floor: one ``LPUSH`` of a small JSON message per task.

Not called ``queue.py``: the worker runs with this folder as its working directory, where that name would shadow
the standard library's ``queue``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import redis

QUEUE_KEY = "bench:baseline"

_client = redis.Redis.from_url(os.environ["SHOP_REDIS_URL"])


def _enqueue(task: str) -> Callable[..., int]:
    def enqueue(*args: object, probe: str | None = None) -> int:
        return _client.lpush(QUEUE_KEY, json.dumps({"task": task, "args": args, "probe": probe}))

    return enqueue


#: Task name → enqueue call, as in every backend's ``queue`` module.
ENQUEUE = {"noop": _enqueue("noop")}
