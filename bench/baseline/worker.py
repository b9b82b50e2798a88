"""Consumer side of the Redis floor: N processes, each a blocking ``BRPOP`` loop, one task at a time.

``python -m bench.baseline.worker --processes N``; SIGTERM or SIGINT stops every process after its current task.

"Done" for the floor is the body returning: ``BRPOP`` already removed the message and nothing is stored, so the
``C`` (confirmed) event is written right after the body's ``F``, with no bookkeeping between them.
"""

from __future__ import annotations

import json
import os

import redis

from bench.baseline.client import QUEUE_KEY
from bench.floor_worker import floor_main, stop_requested
from shop import channel
from shop.tracking import tracked


def consume() -> None:
    """One worker process: pop, run (noop), record start/finish on the channel."""
    client = redis.Redis.from_url(os.environ["SHOP_REDIS_URL"])
    while not stop_requested():
        item = client.brpop([QUEUE_KEY], timeout=1)
        if item is None:
            continue
        message = json.loads(item[1])
        with tracked(message["task"], message["probe"]):
            pass  # the noop task
        if message["probe"]:
            channel.write_event(channel.CONFIRMED, message["probe"])


if __name__ == "__main__":
    floor_main(__doc__, consume)
