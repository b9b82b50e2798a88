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
    """One of the report's opening questions: the answer lines (one per profile), the caveat and footnotes.

    ``notes`` are the '[a] full text' footnotes the lines refer to (e.g. the setting that decides when a stranded
    task comes back), each said once.
    """

    question: str
    lines: list[str]
    caveat: str
    notes: list[str] = field(default_factory=list)


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


#: Tones of a scorecard cell: good, middling, bad, not applicable (not measured, premise not met, a floor).
TONES = ("good", "mid", "bad", "na")


@dataclass
class Cell:
    """One scorecard cell: the figure (ratio to the floor where it applies), the absolute beside it, and its tone."""

    text: str
    detail: str = ""
    tone: str = "na"


@dataclass
class ScoreRow:
    """A backend's row; ``group`` is the API/broker group it is listed under ('' when the run does not say)."""

    label: str
    cells: list[Cell]
    group: str = ""
    floor: bool = False


@dataclass
class Scorecard:
    """Backends × questions, each cell a measured figure with a good/bad tone; footnotes give premise and caveat.

    ``columns`` are (title, footnote) pairs; ``figure`` is the same scorecard drawn as a chart (written as a PNG beside
    report.md; the HTML colours the table itself).
    """

    columns: list[tuple[str, str]]
    rows: list[ScoreRow]
    legend: str
    figure: Figure | None = field(default=None, repr=False)
    name: str = "scorecard"
    #: The network its figures were measured at, as a sentence ('Measured at network **az** (…)').
    network: str = ""

    def notes(self) -> tuple[list[int], list[str]]:
        """Each column's footnote number and the distinct footnotes (columns sharing a note share its number)."""
        distinct = list(dict.fromkeys(note for _, note in self.columns))
        return [distinct.index(note) + 1 for _, note in self.columns], distinct


@dataclass
class Contents:
    """A table of contents of the headings that follow (levels 2 and 3)."""

    headings: list[Heading]


Block = Heading | Paragraph | Bullets | Answer | Table | Chart | Scorecard | Contents
