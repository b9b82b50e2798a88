"""One module per scenario: its section of the report's Details (and, where a scenario has one, its answer).

A new scenario adds a module here with ``TITLE`` and ``details(ctx, records) -> list[Block]`` and one line in
:data:`SECTIONS`; a scenario without a module is still shown, generically (:mod:`.generic`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.report.context import Context
from bench.report.model import Block
from bench.report.sections import (
    channel_overhead,
    db_statements,
    enqueue,
    faults,
    generic,
    idle_pickup,
    latency,
    resources,
    retries,
    throughput,
)
from bench.results import Record

Details = Callable[[Context, Sequence[Record]], list[Block]]

#: scenario → (heading, details), in the report's reading order.
SECTIONS: dict[str, tuple[str, Details]] = {
    "enqueue": (enqueue.TITLE, enqueue.details),
    "throughput": (throughput.TITLE, throughput.details),
    "db_statements": (db_statements.TITLE, db_statements.details),
    "latency": (latency.TITLE, latency.details),
    "idle_pickup": (idle_pickup.TITLE, idle_pickup.details),
    "resources": (resources.TITLE, resources.details),
    "channel_overhead": (channel_overhead.TITLE, channel_overhead.details),
    "retries": (retries.TITLE, retries.details),
    "faults": (faults.TITLE, faults.details),
}


def section(scenario: str) -> tuple[str, Details]:
    """The heading and details renderer of a scenario; unknown scenarios get the generic table."""
    return SECTIONS.get(scenario, (f"Scenario {scenario}", generic.details))
