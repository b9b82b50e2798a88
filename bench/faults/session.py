"""The small interface a retry or fault scenario uses of the session that runs it.

:class:`bench.runner.Session` provides it; the scenarios never import the runner (it reaches them through their
registry entries, ``bench/scenarios/retries.py`` and ``faults.py``, which call :func:`bench.faults.run_retries` /
:func:`bench.faults.run_faults`). :class:`bench.scenarios.session.ScenarioSession` extends it for every scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.channel_wait import ChannelWatcher
from bench.services import ExternalRabbitMQ, ExternalRedis, ManagedProcess, RabbitMQServer, RedisServer

if TYPE_CHECKING:  # bench.scenarios imports this package (its retries and faults units)
    from bench.scenarios.preset import Preset


class Producer(Protocol):
    """The session's warm producer process (``bench.producer``)."""

    def call(self, cmd: str, **kwargs: Any) -> dict[str, Any]:
        """Run one producer command; a producer-side exception raises ``BenchError``."""
        ...


class FaultSession(Protocol):
    """What a fault scenario may use: the producer, the channel watcher, the workers, the broker, the record."""

    preset: Preset
    producer: Producer | None
    watcher: ChannelWatcher
    redis: RedisServer | ExternalRedis
    #: The RabbitMQ node of a backend on RabbitMQ (``broker = "rabbitmq"``); ``None`` for every other backend.
    rabbitmq: RabbitMQServer | ExternalRabbitMQ | None
    workers: ManagedProcess | None
    #: ``SHOP_VAR_DIR`` of the backend's processes (gates live there).
    var_dir: Path

    @property
    def processes(self) -> int:
        """Worker processes of this session."""
        ...

    @property
    def has_database(self) -> bool:
        """Whether the backend runs the Django shop (with its database): the Redis floor does not."""
        ...

    @property
    def profile(self) -> str:
        """The settings profile of this session (``shipped``, ``safe``, …)."""
        ...

    def prefix(self, name: str) -> str:
        """A fresh probe prefix."""
        ...

    def record(self, scenario: str, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Append a record to the session's results and return it."""
        ...

    def start_workers(self) -> None:
        """Start the backend's real worker command and wait for a noop round trip."""
        ...

    def stop_workers(self) -> None:
        """Stop the workers (graceful, then the rest of the tree is killed)."""
        ...
