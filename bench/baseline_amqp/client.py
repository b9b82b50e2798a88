"""Producer side of the AMQP floor: one ``basic.publish`` of a small JSON message per task (no publisher confirms,
as both libraries' defaults).

Not called ``queue.py``, as the Redis floor's client: the worker's working directory must not shadow ``queue``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
from collections.abc import Callable

from bench.baseline_amqp.broker import PERSISTENT, QUEUE, channel

_channel = channel()


@atexit.register
def _close() -> None:
    """Close the connection cleanly when the producer exits: a socket dropped mid-stream can lose what it carried."""
    with contextlib.suppress(Exception):
        _channel.connection.close()


def _enqueue(task: str) -> Callable[..., None]:
    def enqueue(*args: object, probe: str | None = None) -> None:
        body = json.dumps({"task": task, "args": args, "probe": probe})
        _channel.basic_publish(exchange="", routing_key=QUEUE, body=body, properties=PERSISTENT)

    return enqueue


#: Task name → enqueue call, as in every backend's ``queue`` module.
ENQUEUE = {"noop": _enqueue("noop")}


def purge() -> int:
    """Delete every ready message of the floor's queue (the harness's reset between scenarios); the count."""
    return int(_channel.queue_purge(QUEUE).method.message_count)
