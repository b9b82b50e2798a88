"""Round trips per enqueue and per task (the ``round_trips`` scenario) and the sensitivity to the network."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report.context import Context
from bench.report.model import Block, Paragraph
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Round trips per enqueue and per task"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    return [Paragraph(f"{len(records)} round-trip records.")]
