"""Render report blocks as GitHub-flavoured Markdown; charts are written as PNG files beside the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report import charts
from bench.report.model import Answer, Block, Bullets, Chart, Contents, Heading, Paragraph, Scorecard, Table

#: Tone markers of scorecard cells (GitHub cannot colour a table cell).
TONE_MARKERS = {"good": "🟢", "mid": "🟡", "bad": "🔴", "na": "⚪"}


def _cell(text: str) -> str:
    """A table cell: pipes escaped, newlines flattened (they would break the row)."""
    return text.replace("|", "\\|").replace("\n", " ")


def render(blocks: Sequence[Block], out_dir: Path) -> str:
    """The Markdown text; every chart's PNG is written to ``out_dir`` as ``<name>.png``."""
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}\n")
        elif isinstance(block, Paragraph):
            out.append(block.text + "\n")
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items) + "\n")
        elif isinstance(block, Answer):
            lines = [f"**{block.question}**", ""]
            lines += [f"- {line}" for line in block.lines]
            if block.notes:
                lines += ["", "  " + "  \n  ".join(block.notes)]
            if block.caveat:
                lines += ["", f"  *Caveat:* {block.caveat}"]
            out.append("\n".join(lines) + "\n")
        elif isinstance(block, Table):
            if not block.rows:
                out.append("*(no rows)*\n")
                continue
            lines = ["| " + " | ".join(_cell(h) or " " for h in block.headers) + " |"]
            lines.append("|" + "|".join(" --- " for _ in block.headers) + "|")
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
            if block.caption:
                lines += ["", f"*{block.caption}*"]
            out.append("\n".join(lines) + "\n")
        elif isinstance(block, Chart):
            (out_dir / f"{block.name}.png").write_bytes(charts.to_png(block.figure))
            out.append(f"![{block.title}]({block.name}.png)\n")
        elif isinstance(block, Scorecard):
            out.append(_scorecard(block, out_dir))
        elif isinstance(block, Contents):
            out.append(
                "\n".join(f"{'  ' * (h.level - 2)}- [{h.text}](#{h.anchor})" for h in block.headings if h.level >= 2)
                + "\n"
            )
        else:  # pragma: no cover - a new block type must be rendered here
            raise TypeError(f"unknown block {type(block).__name__}")
    return "\n".join(out)


def _scorecard(card: Scorecard, out_dir: Path) -> str:
    """The scorecard's chart (PNG), then the same as a table with tone markers, then its footnotes."""
    lines = []
    if card.figure is not None:
        (out_dir / f"{card.name}.png").write_bytes(charts.to_png(card.figure))
        lines += [f"![Scorecard]({card.name}.png)", ""]
    if card.network:
        lines += [f"{card.network}.", ""]
    numbers, notes = card.notes()
    headers = ["backend", *[f"{title} [{n}]" for (title, _), n in zip(card.columns, numbers, strict=True)]]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(" --- " for _ in headers) + "|")
    group = None
    for row in card.rows:
        if row.group and row.group != group:
            group = row.group
            lines.append(f"| *{_cell(group)}* |" + " |" * len(card.columns))
        cells = []
        for cell in row.cells:
            text = f"{TONE_MARKERS.get(cell.tone, '')} {cell.text}".strip()
            cells.append(_cell(text + (f" ({cell.detail})" if cell.detail else "")))
        lines.append(f"| {_cell(row.label)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"[{i}] {note}  " for i, note in enumerate(notes, 1)]
    lines += ["", f"*{card.legend}*"]
    return "\n".join(lines) + "\n"
