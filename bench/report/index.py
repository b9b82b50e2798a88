"""The results index: every committed run in one table, ``results/index.md`` and a self-contained
``results/index.html``.

``python -m bench.report index [RESULTS_DIR]`` writes both, plus a comparison of each run with the previous run of the
same preset that has a measurement in common with it (same backend, profile, scenario, params and network:
``results/compare/<base>..<changed>.md``, the text of ``python -m bench.report compare``), so a reader can see what
moved between two runs without running anything; a faults-only run is never "compared" with an io_bound-only one.
``--check`` writes nothing and exits 1 when a file differs from what it would write (``nox -s lint`` runs it: the index
is written by code, never by hand).

Every cell comes from the run's own ``results.json``: date, commit, machine, preset, profiles, backends, broker and
network, Python and Django, database engine, and how many records came out ``ok``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report.compare import compare_runs, render_text, shared_measurements
from bench.results import Record, ResultsError, RunResults, load_results

#: Where the comparison pages go, inside the results directory.
COMPARE_DIR = "compare"


@dataclass(frozen=True)
class RunRow:
    """One committed run as the index shows it."""

    run_id: str
    started: str
    minutes: float | None
    commit: str
    dirty: bool
    machine: str
    preset: str
    profiles: tuple[str, ...]
    fault_profiles: tuple[str, ...]
    backends: tuple[str, ...]
    floors: tuple[str, ...]
    brokers: tuple[str, ...]
    networks: tuple[str, ...]
    python: str
    django: str
    database: str
    records: int
    ok: int
    notes: bool = False  # the run's folder has a NOTES.md (lab notes written at the time)
    previous: str | None = None  # the previous run of the same preset with a measurement in common
    earlier: bool = False  # an earlier run of the same preset exists (with or without a measurement in common)

    @property
    def compare_name(self) -> str | None:
        """File name of the comparison with the previous run of the same preset (``None`` for the first)."""
        return f"{self.previous}..{self.run_id}.md" if self.previous else None


def _minutes(results: RunResults) -> float | None:
    from datetime import datetime

    start, end = results.run.get("started_at"), results.run.get("finished_at")
    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 60


def _networks(records: Sequence[Record]) -> tuple[str, ...]:
    """The networks the run measured at; a record without one (every run before the network axis) is loopback."""
    names: dict[str, None] = {}
    for record in records:
        network = getattr(record, "network", None)
        name = network.get("name") if isinstance(network, dict) else network
        names[str(name or "loopback")] = None
    return tuple(names) or ("loopback",)


def run_row(run_dir: Path, results: RunResults) -> RunRow:
    """The index row of one run."""
    env = results.environment
    described = results.backends
    floors = tuple(n for n, d in described.items() if d.get("role") == "floor")
    backends = tuple(n for n in described if n not in floors)
    database = env.get("database") or {}
    commit = str(env.get("git_commit") or "?")
    faults = {r.profile for r in results.records if r.scenario in ("faults", "retries")}
    return RunRow(
        run_id=run_dir.name,
        started=str(results.run.get("started_at", "?")).replace("+00:00", "Z"),
        minutes=_minutes(results),
        commit=commit[:7],
        dirty=bool(env.get("git_dirty")),
        machine=f"{env.get('cpu_model', '?')} × {env.get('cpu_count', '?')}",
        preset=str(results.run.get("preset", "?")),
        profiles=tuple(results.run.get("profiles") or ()),
        fault_profiles=tuple(sorted(faults)),
        backends=backends,
        floors=floors,
        brokers=tuple(sorted({str(d.get("broker")) for d in described.values() if d.get("broker")})),
        networks=_networks(results.records),
        python=str(env.get("python", "?")),
        django=str((env.get("packages") or {}).get("django", "?")),
        database=str(database.get("engine", "sqlite" if not database else "?")),
        records=len(results.records),
        ok=sum(1 for r in results.records if r.status == "ok"),
        notes=(run_dir / "NOTES.md").is_file(),
    )


def collect(results_dir: Path) -> list[tuple[RunRow, RunResults]]:
    """Every run folder of ``results_dir`` with a results file, oldest first, each linked to the latest earlier run of
    its preset that has a measurement in common with it (none: no link, no comparison page). A corrupt results file
    is a :class:`ResultsError` naming it (the index would be wrong without it)."""
    rows: list[tuple[RunRow, RunResults]] = []
    for path in sorted(results_dir.glob("*/results.json")):
        results = load_results(path)
        row = run_row(path.parent, results)
        same_preset = [(r, res) for r, res in rows if r.preset == row.preset]
        previous = next((r.run_id for r, res in reversed(same_preset) if shared_measurements(res, results)), None)
        rows.append((RunRow(**{**row.__dict__, "previous": previous, "earlier": bool(same_preset)}), results))
    return rows


def _join(items: Sequence[str]) -> str:
    return ", ".join(items) if items else "–"


def _cells(row: RunRow) -> list[str]:
    """The row's cells as plain text, in :data:`COLUMNS` order (links added by each renderer)."""
    minutes = f"{row.minutes:.0f} min" if row.minutes is not None else "?"
    faults = f"; faults: {_join(row.fault_profiles)}" if row.fault_profiles else ""
    return [
        row.started[:16].replace("T", " "),
        row.run_id,
        row.commit + (" (dirty)" if row.dirty else ""),
        row.machine,
        f"{row.preset}, {minutes}",
        _join(row.profiles) + faults,
        f"{len(row.backends)}: {_join(row.backends)}" + (f" + floors {_join(row.floors)}" if row.floors else ""),
        f"{_join(row.brokers)} / {_join(row.networks)}",
        f"{row.python} / {row.django}",
        row.database,
        f"{row.ok} of {row.records}",
    ]


COLUMNS = (
    "started (UTC)",
    "run (report)",
    "commit",
    "machine",
    "preset, duration",
    "profiles",
    "backends",
    "broker / network",
    "Python / Django",
    "database",
    "records ok",
    "compare with the previous run of the preset measuring the same",
)

#: The comparison cell of a run with earlier runs of its preset, none of which measured anything it measured.
NOTHING_IN_COMMON = "none: no earlier run of its preset measured the same"


def _no_compare(row: RunRow) -> str:
    """The comparison cell of a run without a comparison page."""
    return NOTHING_IN_COMMON if row.earlier else "first of its preset"


def render_markdown(rows: Sequence[RunRow]) -> str:
    """``results/index.md``: newest run first."""
    lines = [
        "# Results index",
        "",
        "Every committed run, newest first, written by `python -m bench.report index` from each run's `results.json`"
        " (do not edit by hand: `nox -s lint` checks it). A run's folder holds its `results.json`, `report.md`,"
        " `report.html` and, where there is one, `NOTES.md`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join("---" for _ in COLUMNS) + " |",
    ]
    for row in reversed(rows):
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        cells[1] = f"[{row.run_id}]({row.run_id}/report.md)" + (
            f" ([notes]({row.run_id}/NOTES.md))" if row.notes else ""
        )
        compare = f"[vs {row.previous}]({COMPARE_DIR}/{row.compare_name})" if row.compare_name else _no_compare(row)
        lines.append("| " + " | ".join([*cells, compare]) + " |")
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1rem;color:#222}"
    "table{border-collapse:collapse;font-size:.8rem}"
    "th,td{border:1px solid #ccc;padding:.2rem .4rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}"
)


def render_html(rows: Sequence[RunRow]) -> str:
    """``results/index.html``: the same table as a self-contained page (inline CSS, no script, no request)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in reversed(rows):
        cells = [html.escape(c) for c in _cells(row)]
        run = html.escape(row.run_id)
        cells[1] = f'<a href="{run}/report.html">{run}</a> (<a href="{run}/report.md">md</a>'
        cells[1] += f', <a href="{run}/NOTES.md">notes</a>)' if row.notes else ")"
        if row.compare_name:
            target = html.escape(f"{COMPARE_DIR}/{row.compare_name}")
            cells.append(f'<a href="{target}">vs {html.escape(row.previous or "")}</a>')
        else:
            cells.append(html.escape(_no_compare(row)))
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Results index — django-queue-bench</title>'
        f"<style>{_CSS}</style></head><body><h1>Results index</h1>"
        "<p>Every committed run, newest first, written by <code>python -m bench.report index</code> from each run's "
        "<code>results.json</code>.</p>"
        f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></body></html>\n'
    )


def render_compare(base: RunRow, base_results: RunResults, row: RunRow, results: RunResults) -> str:
    """A comparison page: what ``python -m bench.report compare`` prints for the two runs, with its command."""
    text = render_text(compare_runs(base_results, results), base.run_id, row.run_id)
    return (
        f"# {row.run_id} against {base.run_id}\n\n"
        f"The previous `{row.preset}` run against this one, as `python -m bench.report compare results/{base.run_id} "
        f"results/{row.run_id}` prints it (written by `python -m bench.report index`).\n\n```\n{text.rstrip()}\n```\n"
    )


def build(results_dir: Path) -> dict[Path, str]:
    """Every file of the index (path → content): ``index.md``, ``index.html`` and one comparison per run pair."""
    collected = collect(results_dir)
    by_id = {row.run_id: (row, results) for row, results in collected}
    rows = [row for row, _ in collected]
    files = {results_dir / "index.md": render_markdown(rows), results_dir / "index.html": render_html(rows)}
    for row, results in collected:
        if row.previous and row.compare_name:
            base, base_results = by_id[row.previous]
            files[results_dir / COMPARE_DIR / row.compare_name] = render_compare(base, base_results, row, results)
    return files


def stale(results_dir: Path) -> list[str]:
    """What ``write`` would change: files that differ or are missing, and comparison pages no run pair needs."""
    files = build(results_dir)
    problems = [str(p) for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    extra = [p for p in sorted((results_dir / COMPARE_DIR).glob("*.md")) if p not in files]
    return problems + [f"{p} (no run pair needs it)" for p in extra]


def write(results_dir: Path) -> list[Path]:
    """Write the index and the comparison pages; remove comparison pages no run pair needs. Returns what changed."""
    files = build(results_dir)
    changed = []
    for path, text in files.items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for path in sorted((results_dir / COMPARE_DIR).glob("*.md")):
        if path not in files:
            path.unlink()
            changed.append(path)
    return changed


__all__ = ["ResultsError", "RunRow", "build", "collect", "render_html", "render_markdown", "stale", "write"]
