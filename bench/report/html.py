"""Render report blocks as one self-contained HTML page: inline CSS, charts as inline SVG, no external request.

A tiny inline script checks that every chart rendered (non-empty SVG box) and marks the body with
``data-charts-ok="<n>"`` or ``data-charts-failed``, so a headless browser test can tell a rendered page from a
broken one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from bench.report import charts
from bench.report.model import Answer, Block, Bullets, Chart, Contents, Heading, Paragraph, Scorecard, Table

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:80rem;margin:1rem auto;padding:0 1rem;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3} tr:nth-child(even) td{background:#fafafa}
caption{caption-side:bottom;font-size:.8rem;color:#555;text-align:left;padding-top:.25rem}
figure{margin:1rem 0} figure svg{max-width:100%;height:auto} figcaption{font-size:.85rem;color:#555}
dl.answer{margin:.5rem 0 1rem} dl.answer dt{font-weight:600} dl.answer dd{margin:.2rem 0 .2rem 1.2rem}
dd.caveat{color:#555;font-style:italic} dd.note{color:#444;font-size:.8rem} code{background:#f3f3f3;padding:0 .2rem}
h1{font-size:1.35rem;margin:.2rem 0 .3rem} p.lead{font-size:.85rem;color:#444;margin:.2rem 0 .4rem}
table.scorecard{font-size:.76rem;width:100%;margin:.3rem 0;line-height:1.2}
table.scorecard td,table.scorecard th{padding:.15rem .3rem;text-align:center;vertical-align:middle}
table.scorecard th:first-child,table.scorecard td:first-child{text-align:left;white-space:nowrap}
table.scorecard td small{color:#333;font-size:.7rem} table.scorecard tr.group th{background:#fff;text-align:left;
font-style:italic;font-weight:600;border-left:0;border-right:0}
table.scorecard td.good{background:#b7e1b0} table.scorecard td.mid{background:#f6d98b}
table.scorecard td.bad{background:#f2a7a0} table.scorecard td.na{background:#ececec;color:#555}
table.scorecard tr.floor td:first-child{color:#666;font-style:italic}
ol.notes{font-size:.72rem;color:#444;margin:.2rem 0 .2rem 1rem;padding-left:1rem;columns:2;column-gap:2rem}
p.legend{font-size:.72rem;color:#444;margin:.2rem 0}
nav.toc{font-size:.8rem;columns:3;column-gap:2rem;border-top:1px solid #ddd;border-bottom:1px solid #ddd;
padding:.3rem 0;margin:.5rem 0} nav.toc ul{margin:0;padding-left:1rem} nav.toc li.l3{margin-left:1rem;
list-style:circle}
"""

_SCRIPT = """
(function(){
  function check(){
    var figs=document.querySelectorAll('figure.chart'), ok=0;
    figs.forEach(function(f){var s=f.querySelector('svg');
      if(s){var b=s.getBoundingClientRect(); if(b.width>0&&b.height>0&&s.querySelector('text')) ok++;}});
    if(ok===figs.length){document.body.setAttribute('data-charts-ok', String(ok));}
    else{document.body.setAttribute('data-charts-failed', String(figs.length-ok));}
  }
  if(document.readyState==='loading'){document.addEventListener('DOMContentLoaded',check);}else{check();}
})();
"""


def _inline(text: str) -> str:
    """Escape text, then turn ``**bold**`` and ``code`` markup into tags."""
    escaped = html.escape(text)
    escaped = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"(?<!\*)\*(?!\*)(.+?)(?<!\*)\*(?!\*)", r"<em>\1</em>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _scope_ids(svg: str, prefix: str) -> str:
    """Prefix every id (and reference to it) of one chart's SVG: several inline SVGs share one id namespace."""
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)


def _scorecard(card: Scorecard) -> str:
    """The scorecard as a table whose cells are coloured by tone; footnote links on the column titles."""
    n = len(card.columns)
    numbers, distinct = card.notes()
    head = "<th>backend</th>" + "".join(
        f'<th>{_inline(title)}<sup><a href="#{card.name}-note-{i}">{i}</a></sup></th>'
        for (title, _), i in zip(card.columns, numbers, strict=True)
    )
    rows, group = [], None
    for row in card.rows:
        if row.group and row.group != group:
            group = row.group
            rows.append(f'<tr class="group"><th colspan="{n + 1}">{_inline(group)}</th></tr>')
        cells = "".join(
            f'<td class="{c.tone}"><b>{_inline(c.text)}</b>'
            + (f"<br><small>{_inline(c.detail)}</small>" if c.detail else "")
            + "</td>"
            for c in row.cells
        )
        rows.append(f'<tr class="{"floor" if row.floor else "backend"}"><td>{_inline(row.label)}</td>{cells}</tr>')
    notes = "".join(f'<li id="{card.name}-note-{i}">{_inline(note)}</li>' for i, note in enumerate(distinct, 1))
    # The network line goes under the table, with the legend: the whole table must stay on the first screen.
    network = f'<p class="network">{_inline(card.network)}.</p>' if card.network else ""
    return (
        f'<table class="scorecard" id="{card.name}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        f'</table>{network}<p class="legend">{_inline(card.legend)}</p><ol class="notes">{notes}</ol>'
    )


def render(blocks: Sequence[Block], *, title: str) -> str:
    """The whole HTML document."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f'<h{block.level} id="{block.anchor}">{_inline(block.text)}</h{block.level}>')
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, Answer):
            parts = [f'<dl class="answer"><dt>{_inline(block.question)}</dt>']
            parts += [f"<dd>{_inline(line)}</dd>" for line in block.lines]
            parts += [f'<dd class="note">{_inline(note)}</dd>' for note in block.notes]
            if block.caveat:
                parts.append(f'<dd class="caveat">Caveat: {_inline(block.caveat)}</dd>')
            body.append("".join(parts) + "</dl>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline(h)}</th>" for h in block.headers)
            rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            caption = f"<caption>{_inline(block.caption)}</caption>" if block.caption else ""
            body.append(f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Chart):
            svg = _scope_ids(charts.to_svg(block.figure), block.name)
            body.append(
                f'<figure class="chart" id="chart-{block.name}">{svg}<figcaption>{_inline(block.title)}</figcaption>'
                "</figure>"
            )
        elif isinstance(block, Scorecard):
            body.append(_scorecard(block))
        elif isinstance(block, Contents):
            items = "".join(
                f'<li class="l{h.level}"><a href="#{h.anchor}">{_inline(h.text)}</a></li>'
                for h in block.headings
                if h.level >= 2
            )
            body.append(f'<nav class="toc" aria-label="Contents"><ul>{items}</ul></nav>')
        else:  # pragma: no cover - a new block type must be rendered here
            raise TypeError(f"unknown block {type(block).__name__}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
