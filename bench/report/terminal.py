"""The scorecard as text for the terminal: what ``nox -s bench`` prints at the end of a run, before the report."""

from __future__ import annotations

from rich.table import Table

from bench.report import answers
from bench.report.context import main_part, make_context
from bench.results import RunResults

#: Rich styles of the scorecard's tones (the report's green / amber / red / grey).
TONE_STYLES = {"good": "green", "mid": "yellow", "bad": "red", "na": "dim"}


def scorecard_table(results: RunResults) -> Table | None:
    """The report's scorecard, row for row and cell for cell, coloured by tone, titled with the network its figures
    were measured at (a run at several: its first, as the report's main part); None when the run measured none of
    its questions."""
    card = answers.scorecard(make_context(main_part(results)))
    if card is None:
        return None
    title = f"Scorecard ({results.run.get('preset')} preset; the report's footnotes say what each means)"
    if card.network:
        title += "\n" + card.network.replace("**", "")
    table = Table(title=title)
    table.add_column("backend")
    for title, _ in card.columns:
        table.add_column(title)
    for row in card.rows:
        cells = [
            f"[{TONE_STYLES.get(cell.tone, '')}]{cell.text}[/]" + (f" ({cell.detail})" if cell.detail else "")
            for cell in row.cells
        ]
        table.add_row(row.label, *cells)
    return table
