"""The AMQP floor's queue and connections (pika, ``SHOP_AMQP_URL``).

Not called ``amqp.py``: the worker runs with this folder as its working directory, where that name would shadow
py-amqp.
"""

from __future__ import annotations

import os

import pika
from pika.adapters.blocking_connection import BlockingChannel

#: The floor's queue on the node (the backends' queues are ``celery`` and Dramatiq's ``default``).
QUEUE = "bench.amqp-baseline"
#: Unacknowledged messages a consumer may hold: Celery's default for one process (worker_prefetch_multiplier = 4),
#: so the node streams messages to a consumer instead of one round trip per task.
PREFETCH = 4
#: What the two libraries publish by default: persistent messages (delivery mode 2) on a durable queue.
PERSISTENT = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json")


def channel() -> BlockingChannel:
    """A channel on a new connection to ``$SHOP_AMQP_URL``, with the floor's durable queue declared."""
    connection = pika.BlockingConnection(pika.URLParameters(os.environ["SHOP_AMQP_URL"]))
    opened = connection.channel()
    opened.queue_declare(QUEUE, durable=True)
    return opened
