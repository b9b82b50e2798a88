"""Consumer side of the AMQP floor: N processes, each a ``basic.consume`` loop with manual acks, one task at a time.

``python -m bench.baseline_amqp.worker --processes N``; SIGTERM or SIGINT stops every process after its current task
(the messages it had prefetched return to the queue when its connection closes).

"Done" for the floor is the ack: the body runs, ``basic.ack`` goes to the node, then the ``C`` event is written.
"""

from __future__ import annotations

import json

from bench.baseline_amqp.broker import PREFETCH, QUEUE, channel
from bench.floor_worker import floor_main, stop_requested
from shop import channel as events
from shop.tracking import tracked


def consume() -> None:
    """One worker process: receive, run (noop), ack; record start/finish/confirmed on the channel."""
    amqp = channel()
    amqp.basic_qos(prefetch_count=PREFETCH)
    # inactivity_timeout: an idle consumer looks at the stop flag every second.
    for method, _properties, body in amqp.consume(QUEUE, inactivity_timeout=1.0):
        if method is not None:
            message = json.loads(body)
            with tracked(message["task"], message["probe"]):
                pass  # the noop task
            amqp.basic_ack(method.delivery_tag)
            if message["probe"]:
                events.write_event(events.CONFIRMED, message["probe"])
        if stop_requested():
            break
    amqp.connection.close()


if __name__ == "__main__":
    floor_main(__doc__, consume)
