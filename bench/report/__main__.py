"""Command line: ``python -m bench.report RESULTS.json [--out DIR]``, ``python -m bench.report compare A B`` and
``python -m bench.report index [RESULTS_DIR] [--check]`` (the results index) and ``python -m bench.report readme
[--check]`` (README.md's generated findings).

``RESULTS.json`` may also be a run directory holding one. Bad input (missing or corrupt file, a directory without
results.json, unknown schema version) prints one line on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.report import write_report
from bench.report.compare import compare_runs, render_text
from bench.results import ResultsError, load_results


def _fail(message: str) -> int:
    print(f"bench.report: error: {message}", file=sys.stderr)
    return 2


def _results_file(path: Path) -> Path:
    """The results file meant by ``path``: the file itself, or the ``results.json`` of a run directory."""
    if path.is_dir():
        inside = path / "results.json"
        if not inside.is_file():
            raise ResultsError(f"{path} is a directory without a results.json; give a results file")
        return inside
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "compare":
        parser = argparse.ArgumentParser(
            prog="python -m bench.report compare",
            description="Compare two results files metric by metric (changed against base).",
        )
        parser.add_argument("base", type=Path, help="results.json of the reference run")
        parser.add_argument("changed", type=Path, help="results.json of the run to compare with it")
        ns = parser.parse_args(args[1:])
        try:
            base, changed = load_results(_results_file(ns.base)), load_results(_results_file(ns.changed))
        except ResultsError as exc:
            return _fail(str(exc))
        sys.stdout.write(render_text(compare_runs(base, changed), str(ns.base), str(ns.changed)))
        return 0

    if args and args[0] == "index":
        return _index(args[1:])
    if args and args[0] == "readme":
        return _readme(args[1:])

    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Write report.md (+ PNG charts) and a self-contained report.html from a results file. "
        "Use 'python -m bench.report compare A.json B.json' to compare two runs.",
    )
    parser.add_argument("results", type=Path, help="results.json written by the harness (or its run directory)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the results file's folder)")
    ns = parser.parse_args(args)
    try:
        path = _results_file(ns.results)
        results = load_results(path)
    except ResultsError as exc:
        return _fail(str(exc))
    md_path, html_path = write_report(results, ns.out or path.parent)
    print(f"wrote {md_path} and {html_path}")
    return 0


def _index(args: list[str]) -> int:
    """``index``: write results/index.md, index.html and the comparison pages, or ``--check`` that they are current."""
    from bench.report import index

    parser = argparse.ArgumentParser(
        prog="python -m bench.report index",
        description="Write the results index (index.md, index.html, compare/*.md) from every run's results.json.",
    )
    parser.add_argument("results_dir", type=Path, nargs="?", default=Path("results"), help="default: results")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 listing every file that is not what it would be"
    )
    ns = parser.parse_args(args)
    if not ns.results_dir.is_dir():
        return _fail(f"{ns.results_dir} is not a directory")
    try:
        if ns.check:
            problems = index.stale(ns.results_dir)
            for problem in problems:
                print(f"bench.report index: out of date: {problem}", file=sys.stderr)
            if problems:
                print("bench.report index: run `nox -s report -- index` to rewrite them", file=sys.stderr)
            return 1 if problems else 0
        changed = index.write(ns.results_dir)
    except ResultsError as exc:
        return _fail(str(exc))
    print(f"results index: {len(changed)} file(s) written or removed in {ns.results_dir}")
    return 0


def _readme(args: list[str]) -> int:
    """``readme``: rewrite README.md's generated regions from the runs they name, or ``--check`` them."""
    from bench.report import readme

    parser = argparse.ArgumentParser(
        prog="python -m bench.report readme",
        description="Rewrite the generated regions of README.md (<!-- generated: KIND from results/RUN -->) from "
        "the runs they name.",
    )
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="default: README.md")
    parser.add_argument("--results", type=Path, default=Path("results"), help="the runs' folder (default: results)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if README.md is not current")
    ns = parser.parse_args(args)
    try:
        current = readme.write(ns.readme, ns.results, check=ns.check)
    except (readme.ReadmeError, OSError) as exc:
        return _fail(str(exc))
    if ns.check and not current:
        print(
            f"bench.report readme: {ns.readme}'s generated findings differ from what the runs they name give "
            "(edited by hand?); run `nox -s report -- readme` to rewrite them",
            file=sys.stderr,
        )
        return 1
    print(f"{ns.readme}: {'already current' if current else 'generated regions rewritten'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
