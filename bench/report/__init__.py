"""Reports from a results file: ``report.md`` with PNG charts beside it and a self-contained ``report.html``.

``python -m bench.report RESULTS.json [--out DIR]`` writes both; ``python -m bench.report compare A.json B.json``
compares two runs. A report is a pure function of its results file.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.report import charts, content, html, markdown
from bench.report.context import main_part
from bench.report.model import Chart, Scorecard
from bench.report.sections import network
from bench.results import RunResults, load_results

__all__ = ["write_report"]


def write_report(results: RunResults | str | os.PathLike[str], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (+ chart PNGs) and ``report.html`` into ``out_dir``; return both paths.

    ``results`` is a loaded :class:`RunResults` or the path of a results file (as the harness passes it).
    """
    if not isinstance(results, RunResults):
        results = load_results(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Several networks: the main part shows the first one, the network section compares them all; the Answers say
    # where the ranking changes between them.
    blocks = content.build(main_part(results), more_answers=network.answers(results))
    blocks[1:1] = network.where(results)
    blocks += network.sensitivity(results)
    try:
        md_path = out / "report.md"
        md_path.write_text(markdown.render(blocks, out), encoding="utf-8")
        html_path = out / "report.html"
        title = f"Django task queue benchmark — run {results.run.get('id', '?')}"
        html_path.write_text(html.render(blocks, title=title), encoding="utf-8")
    finally:
        for block in blocks:
            if isinstance(block, Chart) or (isinstance(block, Scorecard) and block.figure is not None):
                charts.close(block.figure)
    return md_path, html_path
