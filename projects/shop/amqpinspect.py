"""What a RabbitMQ node holds, seen without its management plugin: shared by the projects that run on RabbitMQ
(``celery-rabbitmq``, ``dramatiq-rabbitmq``) to answer the contract's ``locate`` (bench/contract.py).

Two views, both the broker's own:

* **ready messages, by id** (:func:`peek`): every message of a queue fetched with ``basic.get`` on a connection of
  its own and never acknowledged; closing that connection returns each one to its queue (RabbitMQ requeues
  unacknowledged messages in their original position where it can, with the ``redelivered`` flag set, which
  neither library acts on with the suite's settings: Celery only with ``worker_deduplicate_successful_tasks``,
  off by default; Dramatiq never). While the peek lasts (milliseconds for the few hundred messages of a fault run)
  no consumer can be handed those messages.
* **unacknowledged messages, counted** (:func:`queue_counts`): ``rabbitmqctl list_queues messages_unacknowledged``
  on the suite's private node (``SHOP_RABBITMQCTL``, set by the harness; a user's broker of ``--amqp-url`` has none).
  RabbitMQ counts the messages its consumers hold but names none of them over AMQP or the CLI; a library that can
  name what its workers hold (Celery's ``inspect``) says which.

The node's ``consumer_timeout`` (:func:`consumer_timeout_s`) is when it takes a message back from a consumer that
never acknowledges it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.parse
from typing import Any

import amqp  # py-amqp: installed with kombu (Celery's AMQP client)

#: RabbitMQ's default ``consumer_timeout`` (rabbitmq.conf), in ms.
DEFAULT_CONSUMER_TIMEOUT_MS = 1_800_000
#: At most this many messages are peeked per queue (a fault run holds a few hundred).
PEEK_LIMIT = 20_000


def consumer_timeout_s() -> tuple[float, str]:
    """Seconds after delivery at which the node closes the channel of a consumer that holds a message unacknowledged
    (the message then returns to its queue), and the rule that says so: the node's own setting on the suite's node
    (``rabbitmqctl eval``), RabbitMQ's default (30 min) on a user's broker, whose setting cannot be read."""
    ms, source = DEFAULT_CONSUMER_TIMEOUT_MS, "RabbitMQ's default; a user's node may set another"
    answer = _ctl("eval", "application:get_env(rabbit, consumer_timeout).")
    if answer is not None:
        found = re.search(r"\{ok,\s*(\d+)\}", answer)
        ms, source = (int(found.group(1)), "the node's setting") if found else (ms, "RabbitMQ's default")
    return ms / 1000, (
        f"consumer_timeout={ms} ms ({source}): the node closes the channel of a consumer holding a message longer "
        "and requeues it; a consumer whose connection closes (a dead worker) gives its messages back at once"
    )


def _ctl(*args: str) -> str | None:
    """``rabbitmqctl <args>``'s output on the suite's node; ``None`` without ``SHOP_RABBITMQCTL`` (a user's broker).
    Raises when the command fails."""
    spec = os.environ.get("SHOP_RABBITMQCTL")
    if not spec:
        return None
    ctl = json.loads(spec)
    done = subprocess.run([*ctl["argv"], *args], env=ctl["env"], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]} exited {done.returncode}: {done.stderr.strip()[:200]}")
    return done.stdout


def _connection(url: str) -> amqp.Connection:
    """A connected py-amqp connection to ``url`` (the same parsing as ``bench.services.rabbitmq.amqp_connection``:
    a project never imports the harness)."""
    parts = urllib.parse.urlsplit(url)
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    conn = amqp.Connection(
        host=f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        userid=urllib.parse.unquote(parts.username or "guest"),
        password=urllib.parse.unquote(parts.password or "guest"),
        virtual_host=vhost,
        connect_timeout=5,
        read_timeout=5,
        write_timeout=5,
    )
    conn.connect()
    return conn


def peek(url: str, queues: list[str]) -> dict[str, list[amqp.Message]]:
    """The ready messages of each existing queue of ``queues``, in queue order, left in place (see the module doc).

    A queue that does not exist (yet) has none. Raises on a broker that cannot be reached.
    """
    found: dict[str, list[amqp.Message]] = {}
    conn = _connection(url)
    try:
        for queue in queues:
            channel = conn.channel()
            messages: list[amqp.Message] = []
            try:
                while len(messages) < PEEK_LIMIT:
                    message = channel.basic_get(queue, no_ack=False)
                    if message is None:
                        break
                    messages.append(message)
            except amqp.exceptions.NotFound:
                pass  # the queue was never declared: it holds nothing (the channel is closed by the broker)
            found[queue] = messages
    finally:
        # Every fetched message is unacknowledged: closing the connection gives each back to its queue.
        try:
            conn.close()
        except Exception:
            conn.collect()  # the socket is dropped anyway: the node requeues on the closed connection
    return found


def headers(message: amqp.Message) -> dict[str, Any]:
    """A message's AMQP application headers (``{}`` when none)."""
    return dict(message.properties.get("application_headers") or {})


def queue_counts() -> dict[str, tuple[int, int]] | None:
    """``{queue: (ready, unacknowledged)}`` of the node's default virtual host from ``rabbitmqctl list_queues``;
    ``None`` when the harness gave no ``SHOP_RABBITMQCTL`` (a user's broker). Raises when the command fails."""
    out = _ctl("list_queues", "--quiet", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged")
    if out is None:
        return None
    counts: dict[str, tuple[int, int]] = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
            counts[fields[0]] = (int(fields[1]), int(fields[2]))
    return counts
