"""The small interface every scenario gets from the session that runs it.

:class:`bench.runner.Session` provides it; a scenario module never imports the runner. It extends the fault
scenarios' :class:`~bench.faults.session.FaultSession` (producer, watcher, workers, broker, record) with what the
performance scenarios need besides: the backend, its environment, how the session counts a task done, the run's
measured rates and progress display.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench.faults.session import FaultSession, Producer

if TYPE_CHECKING:
    from bench.backends import Backend
    from bench.services.proxy import ProxiedPath

__all__ = ["Producer", "RateKey", "ScenarioSession"]

#: (backend, profile, task, mode, processes, network): the key of a measured rate that sizes later throughput windows
#: (a rate measured at one round trip says little about another: 3,600/s on loopback, 210/s at 2 ms for one floor).
RateKey = tuple[str, str, str, str, int, str]


class ScenarioSession(FaultSession, Protocol):
    """What a scenario may use of its session (one backend, one profile, one process count, one repetition)."""

    backend: Backend
    #: The environment of the backend's processes (a scenario that starts its own, e.g. pytest-benchmark, uses it).
    env: dict[str, str]
    #: The measurement channel's directory (its files' growth says whether workers are still busy).
    channel_dir: Path
    #: How this session counts a task done (``confirmed``: its C event; ``body``: its F), settled at warm-up.
    completion: str | None
    #: Tasks/s of the warm-up: the first estimate that sizes a throughput window.
    warm_rate: float | None
    #: Tasks/s the producer enqueued the warm-up at (a warm-up rate close to it was the producer's).
    warm_enqueue_rate: float | None
    #: The delay proxy the session's clients go through (``None``: a direct network); its counters count round trips.
    path: ProxiedPath | None
    #: Every record's ``network`` (``name``, nominal round trips, and what the session measured through the proxy).
    network: dict[str, Any]

    @property
    def label(self) -> str:
        """Short text naming the session in progress messages."""
        ...

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The scenarios this session runs (one may record for another: throughput records ``resources``)."""
        ...

    @property
    def repetition(self) -> int:
        """Which repetition of the run this session is (0-based)."""
        ...

    @property
    def out_dir(self) -> Path:
        """The run's output directory (files kept beside ``results.json``)."""
        ...

    @property
    def rates(self) -> dict[RateKey, float]:
        """Rates measured earlier in the run, shared by every session: they size later throughput windows."""
        ...

    @property
    def seq(self) -> int:
        """How many probe prefixes this session has handed out (a deterministic seed for argument preparation)."""
        ...

    def progress(self, message: str) -> None:
        """Show what the session is doing (the progress display parses ``"<label>: <scenario>"``)."""
        ...

    def start_workers(self, *, probe: bool = True) -> None:
        """Start the workers; ``probe=False`` skips the noop round trip (it would queue behind a backlog)."""
        ...

    def ensure_workers(self) -> None:
        """Workers running (started and probed if they are not)."""
        ...

    def flush_broker(self) -> None:
        """Empty the queue between scenarios (Redis flushed; a database queue purged)."""
        ...

    def drain(self, probes: list[str], timeout_s: float | None = None) -> bool:
        """Wait until every probe is done as the session counts done; whether all were."""
        ...

    def drop(self, record: dict[str, Any]) -> None:
        """Remove a record again (a throughput window superseded by a bigger one)."""
        ...
