"""The report as a list of format-neutral blocks; ``markdown`` and ``html`` render the same list."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from matplotlib.figure import Figure


def slug(text: str) -> str:
    """An anchor id for a heading: lowercase words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class Heading:
    """A section heading (level 1 is the document title)."""

    level: int
    text: str

    @property
    def anchor(self) -> str:
        """Its id in the HTML and its GitHub-style anchor in Markdown."""
        return slug(self.text)


@dataclass
class Paragraph:
    """Plain text; ``**bold**`` is the only inline markup and renders in both formats."""

    text: str


@dataclass
class Bullets:
    """An unordered list of plain-text items (same inline markup as :class:`Paragraph`)."""

    items: list[str]


@dataclass
class Answer:
    """One of the report's opening questions: the answer lines (one per profile) and the caveat."""

    question: str
    lines: list[str]
    caveat: str


@dataclass
class Table:
    """A table of strings; the first column is the row label."""

    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Chart:
    """A chart: saved as ``<name>.png`` beside report.md and inlined as SVG in report.html."""

    name: str
    title: str
    figure: Figure = field(repr=False)


Block = Heading | Paragraph | Bullets | Answer | Table | Chart
