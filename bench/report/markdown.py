"""Render report blocks as GitHub-flavoured Markdown; charts are written as PNG files beside the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.report import charts
from bench.report.model import Answer, Block, Bullets, Chart, Heading, Paragraph, Table


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
        else:  # pragma: no cover - a new block type must be rendered here
            raise TypeError(f"unknown block {type(block).__name__}")
    return "\n".join(out)
