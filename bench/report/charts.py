"""Charts of the report, drawn with matplotlib's Agg backend (no display) from data the content module prepared.

Every chart carries a title with its units and a caption naming the run date, the machine and the key versions, so a
chart copied out of the report still says where its numbers come from. Output is deterministic (no dates or random
ids in the files), so a report is a pure function of its results file.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Collection, Mapping, Sequence

import matplotlib
import matplotlib.lines
import matplotlib.ticker

matplotlib.use("Agg")  # before pyplot: headless, no display needed

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# A report builds every chart once and keeps it until both report.md and report.html are written, then closes them
# all (bench/report/__init__.py): a run with several profiles has more than pyplot's default warning limit of 20.
plt.rcParams["figure.max_open_warning"] = 0

# Stable ids in SVG output and text kept as text (smaller, searchable).
matplotlib.rcParams["svg.hashsalt"] = "bench-report"
matplotlib.rcParams["svg.fonttype"] = "none"

_PERCENTILE_LABELS = ("p50", "p90", "p99", "p99.9", "max")


def _figure(title: str, caption: str, *, height: float = 4.2) -> tuple[Figure, plt.Axes]:
    """A figure with a title and the provenance caption at the bottom."""
    fig, ax = plt.subplots(figsize=(8.5, height), layout="constrained")
    ax.set_title(title, fontsize=11)
    fig.text(0.01, 0.005, textwrap.fill(caption, 150), fontsize=6.5, color="#555555", va="bottom", ha="left")
    fig.get_layout_engine().set(h_pad=0.25)
    return fig, ax


def _style(backend: str, floors: Collection[str] = ()) -> dict[str, object]:
    """A floor (``floors``: the labels of the run's floors, by their recorded role) is drawn grey and dashed
    everywhere so it reads as a floor, not a competitor."""
    if backend in floors:
        # Two floors (Redis, database) must stay apart: grey, dashed or dotted.
        dotted = sorted(floors, reverse=True).index(backend) % 2 == 1
        return {"color": "#555555" if dotted else "#888888", "linestyle": ":" if dotted else "--"}
    return {}


def _human(value: float, _pos: object = None) -> str:
    """A tick label for people: '20', '150', '1,000', '0.5' — never '9×10¹'."""
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


def _value_axis(ax: plt.Axes, values: Sequence[float], *, log_beyond: float = 20.0) -> None:
    """The y axis linear when the values span less than ``log_beyond``×, else log; plain-number tick labels."""
    positive = [v for v in values if v and v > 0]
    if positive and max(positive) / min(positive) >= log_beyond:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        ax.set_ylim(bottom=0, top=max(positive, default=1) * 1.08)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_human))


def enqueue_percentiles(
    task: str, data: Mapping[str, Mapping[str, float]], caption: str, floors: Collection[str] = ()
) -> Figure:
    """Enqueue latency percentiles (µs, log scale) per backend for one task: one line per backend."""
    fig, ax = _figure(f"Enqueue latency of {task} (µs)", caption)
    xs = range(len(_PERCENTILE_LABELS))
    every = []
    for backend, pct in data.items():
        ys = [pct[label] / 1e3 for label in _PERCENTILE_LABELS]
        every += ys
        ax.plot(xs, ys, marker="o", label=backend, **_style(backend, floors))
    ax.set_xticks(list(xs), list(_PERCENTILE_LABELS))
    _value_axis(ax, every)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency per enqueue call (µs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def throughput_vs_processes(
    task: str,
    mode: str,
    series: Mapping[str, Sequence[tuple[int, float, float, float]]],
    caption: str,
    floors: Collection[str] = (),
) -> Figure:
    """Tasks/s against worker processes, median with min–max bars over repetitions; the Redis floor dashed."""
    fig, ax = _figure(f"Throughput of {task} ({mode}), tasks/s against worker processes", caption)
    for backend, points in series.items():
        points = sorted(points)
        xs = [p[0] for p in points]
        med = [p[1] for p in points]
        err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=backend, **_style(backend, floors))
    all_x = sorted({p[0] for points in series.values() for p in points})
    ax.set_xticks(all_x, [str(x) for x in all_x])
    ax.set_xlabel("worker processes")
    ax.set_ylabel("tasks per second")
    _value_axis(
        ax, [p[3] for points in series.values() for p in points] + [p[2] for points in series.values() for p in points]
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


#: Markers of a latency point by its state (bench.report.derived): sustained points are plain dots.
_STATE_MARKERS = {
    "over the latency bound": ("D", "#e08a00", "over the latency bound"),
    "saturated": ("X", "#c0392b", "saturated (sending or completions fell behind)"),
    "tasks lost": ("X", "#7b241c", "tasks lost"),
}


def latency_vs_rate(
    task: str,
    series: Mapping[str, Sequence[tuple[float, float, float, str]]],
    bound_ms: float,
    caption: str,
    floors: Collection[str] = (),
) -> Figure:
    """Two panels, p50 and p99 from intended send to start (ms) against offered rate; states marked; bound on p99."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained", sharex=True)
    fig.suptitle(f"End-to-end latency of {task} to task start against offered rate", fontsize=11)
    fig.text(0.01, 0.005, textwrap.fill(caption, 170), fontsize=6.5, color="#555555", va="bottom", ha="left")
    fig.get_layout_engine().set(h_pad=0.25)
    rates = sorted({p[0] for points in series.values() for p in points})
    seen_states: set[str] = set()
    for ax, index, name in ((axes[0], 1, "p50"), (axes[1], 2, "p99")):
        values = []
        for backend, points in series.items():
            points = sorted(points)
            ys = [p[index] / 1e6 for p in points]
            values += ys
            ax.plot([p[0] for p in points], ys, marker="o", markersize=4, label=backend, **_style(backend, floors))
            for p, y in zip(points, ys, strict=True):
                marker = _STATE_MARKERS.get(p[3])
                if marker is not None:
                    seen_states.add(p[3])
                    ax.scatter([p[0]], [y], marker=marker[0], s=60, color=marker[1], zorder=5, edgecolors="white")
        if name == "p99":
            values.append(bound_ms)
            ax.axhline(bound_ms, color="#c0392b", alpha=0.5, linewidth=1, linestyle="--")
        ax.set_xscale("log")
        ax.set_xticks(rates, [_human(r) for r in rates])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        _value_axis(ax, values)
        ax.set_title(f"{name} (ms)", fontsize=10)
        ax.set_xlabel("offered rate (tasks/s, open loop)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("latency from intended send to start (ms)")
    # The legend sits outside the panels, so neither a marker nor a line ever covers the bound's label.
    handles, labels = axes[0].get_legend_handles_labels()
    handles.append(matplotlib.lines.Line2D([], [], color="#c0392b", alpha=0.5, linestyle="--"))
    labels.append(f"p99 bound {bound_ms:g} ms")
    for state in sorted(seen_states):
        marker, colour, text = _STATE_MARKERS[state]
        handles.append(matplotlib.lines.Line2D([], [], marker=marker, color=colour, linestyle="", markersize=7))
        labels.append(text)
    fig.legend(handles, labels, loc="outside right center", fontsize=7)
    return fig


def retry_timelines(rows: Sequence[tuple[str, Sequence[float], Sequence[float]]], caption: str) -> Figure:
    """One row per (backend, task): actual attempt times (dots) against the configured schedule (grey bars), s."""
    height = max(2.5, 0.45 * len(rows) + 1.6)
    fig, ax = _figure("Retry timelines: attempt times after the first attempt (s)", caption, height=height)
    for y, (_label, actual, configured) in enumerate(rows):
        ax.scatter(configured, [y] * len(configured), marker="|", s=300, color="#bbbbbb", zorder=2)
        ax.scatter(actual, [y] * len(actual), marker="o", s=30, zorder=3)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first attempt (dots: actual attempts, grey bars: configured schedule)")
    ax.grid(True, axis="x", alpha=0.3)
    return fig


def fault_grid(
    columns: Sequence[str],
    backends: Sequence[str],
    panels: Sequence[tuple[str, Sequence[Sequence[tuple[str, str]]]]],
    caption: str,
    *,
    classified: bool = True,
) -> Figure:
    """Backend × fault grids, one panel per profile; each cell's text and colour come from its outcome."""
    n_rows, n_cols = len(backends), len(columns)
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(8.5, 1.25 * n_cols * len(panels) + 1.5), 0.55 * n_rows + 1.9), layout="constrained"
    )
    axes = [axes] if len(panels) == 1 else list(axes)
    title = (
        "Fault outcomes: gone (held nowhere) / stranded (back later) / failed (recorded) / duplicated, per backend"
        if classified
        else "Fault outcomes: tasks not finished within the window (not classified) / duplicated, per backend"
    )
    fig.suptitle(title, fontsize=11)
    fig.text(0.01, 0.005, textwrap.fill(caption, 170), fontsize=6.5, color="#555555", va="bottom", ha="left")
    fig.get_layout_engine().set(h_pad=0.25)
    for k, (ax, (profile, grid)) in enumerate(zip(axes, panels, strict=True)):
        ax.set_xlim(0, n_cols)
        ax.set_ylim(n_rows, 0)
        ax.set_xticks([j + 0.5 for j in range(n_cols)], [textwrap.fill(c, 14) for c in columns], fontsize=7)
        ax.xaxis.tick_top()
        ax.set_yticks([i + 0.5 for i in range(n_rows)], list(backends) if k == 0 else [""] * n_rows, fontsize=8)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlabel(f"profile {profile}", fontsize=9)
        for i, row in enumerate(grid):
            for j, (text, tone) in enumerate(row):
                colour = TONE_COLOURS.get(tone, TONE_COLOURS["na"])
                ax.add_patch(plt.Rectangle((j + 0.03, i + 0.05), 0.94, 0.9, color=colour, linewidth=0))
                ax.text(j + 0.5, i + 0.5, text or "–", ha="center", va="center", fontsize=7)
    return fig


def memory(rows: Sequence[tuple[str, float | None, float | None]], caption: str, *, kind: str = "RSS") -> Figure:
    """Memory (``kind``: RSS or PSS) of all worker processes together, idle and under load (MiB), per backend."""
    fig, ax = _figure(f"Memory of all worker processes ({kind}, MiB)", caption)
    width = 0.38
    xs = range(len(rows))
    ax.bar([x - width / 2 for x in xs], [(r[1] or 0) / 2**20 for r in rows], width, label="idle")
    ax.bar([x + width / 2 for x in xs], [(r[2] or 0) / 2**20 for r in rows], width, label="under load")
    ax.set_xticks(
        list(xs),
        [r[0] for r in rows],
        fontsize=8,
        rotation=20 if len(rows) > 4 else 0,
        ha="right" if len(rows) > 4 else "center",
    )
    ax.set_ylabel("MiB")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def to_png(fig: Figure) -> bytes:
    """PNG bytes without a timestamp or software tag (deterministic)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def to_svg(fig: Figure) -> str:
    """Inline-ready SVG text (no XML prolog, no date)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def close(fig: Figure) -> None:
    """Free a figure's memory (pyplot keeps every figure alive otherwise)."""
    plt.close(fig)


#: Cell colours of the scorecard, by tone (bench.report.model.TONES); colour-blind-safe-ish, text stays readable.
TONE_COLOURS = {"good": "#b7e1b0", "mid": "#f6d98b", "bad": "#f2a7a0", "na": "#e6e6e6"}


def scorecard(columns: Sequence[str], rows: Sequence[object], caption: str) -> Figure:
    """The scorecard as a grid: backends as rows, questions as columns, each cell coloured by its tone."""
    n_rows, n_cols = len(rows), len(columns)
    fig = plt.figure(figsize=(max(8.5, 1.45 * n_cols + 2.2), 0.5 * n_rows + 1.9), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title("Scorecard: which backend for what (green good, amber middling, red bad, grey n/a)", fontsize=11)
    # Room in data coordinates for the column titles above and the provenance caption below the grid.
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows + 0.7, -0.75)
    ax.axis("off")
    ax.text(0, n_rows + 0.15, textwrap.fill(caption, 190), fontsize=6, color="#555555", va="top", ha="left")
    for j, title in enumerate(columns):
        ax.text(j + 0.5, -0.08, textwrap.fill(title, 16), ha="center", va="bottom", fontsize=8, fontweight="bold")
    for i, row in enumerate(rows):
        label = getattr(row, "label", "")
        ax.text(-0.05, i + 0.5, label, ha="right", va="center", fontsize=8)
        for j, cell in enumerate(getattr(row, "cells", [])):
            colour = TONE_COLOURS.get(getattr(cell, "tone", "na"), TONE_COLOURS["na"])
            ax.add_patch(plt.Rectangle((j + 0.02, i + 0.04), 0.96, 0.92, color=colour, linewidth=0))
            text = textwrap.fill(str(getattr(cell, "text", "")), 18)
            detail = str(getattr(cell, "detail", ""))
            ax.text(j + 0.5, i + 0.4, text, ha="center", va="center", fontsize=7)
            if detail:
                ax.text(
                    j + 0.5,
                    i + 0.78,
                    textwrap.shorten(detail, 26),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="#444444",
                )
    return fig
