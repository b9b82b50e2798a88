"""Done, as Dramatiq counts it: a middleware writing the ``C`` channel event of a probed message after its ack.

dramatiq/worker.py runs a message as ``process_message`` → every middleware's ``after_process_message`` (here
django_dramatiq's AdminMiddleware updates the message's Task row) → ``post_process_message``, which acknowledges the
message on the broker (Redis: removes it from the worker's ``__acks__`` set) and then emits ``after_ack``. A message
that raised is still *acked* when the Retries middleware re-enqueues a copy of it (only a message given up on is
nacked), so the middleware remembers which messages succeeded and confirms only those.
"""

from __future__ import annotations

import threading

import dramatiq
from dramatiq.broker import Broker, MessageProxy

from shop import channel


class ConfirmMiddleware(dramatiq.Middleware):
    """Writes ``C`` for a message whose actor returned, once the broker has acknowledged it."""

    def __init__(self) -> None:
        # Message ids whose actor returned and whose ack is still to come; worker threads share the middleware.
        self._succeeded: set[str] = set()
        self._lock = threading.Lock()

    def after_process_message(
        self,
        broker: Broker,
        message: MessageProxy,
        *,
        result: object | None = None,
        exception: BaseException | None = None,
    ) -> None:
        """Remember a probed message that did not raise (its ack follows in the same worker thread)."""
        if exception is None and message.kwargs.get("probe"):
            with self._lock:
                self._succeeded.add(message.message_id)

    def after_ack(self, broker: Broker, message: MessageProxy) -> None:
        """The broker acknowledged the message: it is done as Dramatiq counts it."""
        if not self._succeeded:
            return
        with self._lock:
            if message.message_id not in self._succeeded:
                return
            self._succeeded.discard(message.message_id)
        channel.write_event(channel.CONFIRMED, message.kwargs["probe"])
