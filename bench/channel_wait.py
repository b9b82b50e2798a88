"""Waiting on the measurement channel: the harness's only view of what the workers did.

The harness never asks a queue library whether a task ran (their result APIs differ in kind); it reads the
task-side events that ``shop.tracking`` wrote to the channel directory.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shop.channel import CONFIRMED, ERROR, FINISHED, STARTED, Tail


@dataclass
class ProbeLog:
    """Every event seen per probe: attempt starts, finishes, errors and the backend's own confirmations (times in
    CLOCK_MONOTONIC ns)."""

    starts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    finishes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    confirms: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    #: The worker pid of each attempt start, in the order of ``starts``.
    start_pids: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    pids: set[int] = field(default_factory=set)

    def add(self, kind: str, probe: str, t_ns: int, pid: int) -> None:
        """Record one channel event."""
        {STARTED: self.starts, FINISHED: self.finishes, ERROR: self.errors, CONFIRMED: self.confirms}[kind][
            probe
        ].append(t_ns)
        if kind == STARTED:
            self.start_pids[probe].append(pid)
        self.pids.add(pid)

    def kinds(self, probe: str) -> str:
        """The probe's events in time order, e.g. ``"SESF"`` (start, error, start, finish)."""
        timed = [
            (t, kind)
            for kind, times in (
                (STARTED, self.starts),
                (FINISHED, self.finishes),
                (ERROR, self.errors),
                (CONFIRMED, self.confirms),
            )
            for t in times.get(probe, ())
        ]
        return "".join(kind for _, kind in sorted(timed))

    def finished(self, probes: Iterable[str]) -> int:
        """How many of ``probes`` have finished at least once."""
        return sum(1 for p in probes if self.finishes.get(p))


class ChannelWatcher:
    """Follows a channel directory and answers "have these probes finished yet?"."""

    def __init__(self, directory: str) -> None:
        self.tail = Tail(directory)
        self.log = ProbeLog()

    def poll(self) -> ProbeLog:
        """Read new events into the log."""
        for e in self.tail.poll():
            self.log.add(e.kind, e.probe, e.t_ns, e.pid)
        return self.log

    def wait_for(
        self,
        probes: list[str],
        kinds: tuple[str, ...] = ("finishes",),
        *,
        timeout_s: float,
        on_progress: Callable[[int, int], None] | None = None,
        alive: Callable[[], bool] | None = None,
        settle_s: float = 0.0,
    ) -> bool:
        """Wait until every probe has an event of one of ``kinds`` (``starts``, ``finishes``, ``errors``, ``confirms``).

        ``False`` on timeout or when ``alive()`` says the workers died. ``settle_s`` keeps reading a little longer
        once every probe is there, so that late duplicates are seen too.
        """
        wanted = set(probes)

        def done(probe: str) -> bool:
            return any(getattr(self.log, kind).get(probe) for kind in kinds)

        pending = {p for p in wanted if not done(p)}
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            pending = {p for p in pending if not done(p)}
            if on_progress is not None:
                on_progress(len(wanted) - len(pending), len(wanted))
            if not pending:
                if settle_s:
                    time.sleep(settle_s)
                    self.poll()
                return True
            if time.monotonic() > deadline or (alive is not None and not alive()):
                return False
            time.sleep(0.02)

    def wait_finished(self, probes: list[str], **options: Any) -> bool:
        """:meth:`wait_for` finish events (the usual end of a measurement)."""
        return self.wait_for(probes, ("finishes",), **options)
