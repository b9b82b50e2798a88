"""Charts of the report, drawn with matplotlib's Agg backend (no display) from data the content module prepared.

Every chart carries a title with its units and a caption naming the run date, the machine and the key versions, so a
chart copied out of the report still says where its numbers come from. Output is deterministic (no dates or random
ids in the files), so a report is a pure function of its results file.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # before pyplot: headless, no display needed

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

# Stable ids in SVG output and text kept as text (smaller, searchable).
matplotlib.rcParams["svg.hashsalt"] = "bench-report"
matplotlib.rcParams["svg.fonttype"] = "none"

BASELINE = "redis-baseline"
_PERCENTILE_LABELS = ("p50", "p90", "p99", "p99.9", "max")


def _figure(title: str, caption: str, *, height: float = 4.2) -> tuple[Figure, plt.Axes]:
    """A figure with a title and the provenance caption at the bottom."""
    fig, ax = plt.subplots(figsize=(8.5, height), layout="constrained")
    ax.set_title(title, fontsize=11)
    fig.text(0.01, 0.005, textwrap.fill(caption, 150), fontsize=6.5, color="#555555", va="bottom", ha="left")
    fig.get_layout_engine().set(h_pad=0.25)
    return fig, ax


def _style(backend: str) -> dict[str, object]:
    """The baseline is drawn dashed and grey everywhere so it reads as a floor, not a competitor."""
    if backend == BASELINE:
        return {"color": "#777777", "linestyle": "--"}
    return {}


def enqueue_percentiles(task: str, data: Mapping[str, Mapping[str, float]], caption: str) -> Figure:
    """Enqueue latency percentiles (µs, log scale) per backend for one task: one line per backend."""
    fig, ax = _figure(f"Enqueue latency of {task} (µs, log scale)", caption)
    xs = range(len(_PERCENTILE_LABELS))
    for backend, pct in data.items():
        ys = [pct[label] / 1e3 for label in _PERCENTILE_LABELS]
        ax.plot(xs, ys, marker="o", label=backend, **_style(backend))
    ax.set_xticks(list(xs), list(_PERCENTILE_LABELS))
    ax.set_yscale("log")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency per enqueue call (µs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def throughput_vs_processes(
    task: str, mode: str, series: Mapping[str, Sequence[tuple[int, float, float, float]]], caption: str
) -> Figure:
    """Tasks/s against worker processes, median with min–max bars over repetitions; the Redis floor dashed."""
    fig, ax = _figure(f"Throughput of {task} ({mode}), tasks/s against worker processes", caption)
    for backend, points in series.items():
        points = sorted(points)
        xs = [p[0] for p in points]
        med = [p[1] for p in points]
        err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, label=backend, **_style(backend))
    all_x = sorted({p[0] for points in series.values() for p in points})
    ax.set_xticks(all_x, [str(x) for x in all_x])
    ax.set_xlabel("worker processes")
    ax.set_ylabel("tasks per second")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def latency_vs_rate(
    task: str, series: Mapping[str, Sequence[tuple[float, float, float, bool]]], bound_ms: float, caption: str
) -> Figure:
    """To-start latency p50 (solid) and p99 (dotted) against offered rate; saturated points marked with a red x."""
    fig, ax = _figure(f"End-to-end latency of {task} to task start (ms, log) against offered rate (tasks/s)", caption)
    for backend, points in series.items():
        points = sorted(points)
        xs = [p[0] for p in points]
        (line,) = ax.plot(xs, [p[1] / 1e6 for p in points], marker="o", label=f"{backend} p50", **_style(backend))
        ax.plot(
            xs, [p[2] / 1e6 for p in points], marker="^", linestyle=":", color=line.get_color(), label=f"{backend} p99"
        )
        sat = [p for p in points if p[3]]
        if sat:
            ax.scatter([p[0] for p in sat], [p[2] / 1e6 for p in sat], marker="x", s=80, color="red", zorder=5)
    ax.axhline(bound_ms, color="red", alpha=0.4, linewidth=1)
    ax.text(
        0.01,
        bound_ms,
        f"p99 bound {bound_ms:g} ms (red x: saturated)",
        fontsize=7,
        color="red",
        transform=ax.get_yaxis_transform(),
        va="bottom",
    )
    ax.set_xscale("log")
    rates = sorted({p[0] for points in series.values() for p in points})
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (tasks/s, open loop)")
    ax.set_ylabel("latency from intended send to start (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
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


def fault_outcomes(rows: Sequence[tuple[str, int, int, int]], caption: str) -> Figure:
    """Stacked horizontal bars: tasks completed once / duplicated / lost per (backend, fault)."""
    height = max(2.5, 0.4 * len(rows) + 1.6)
    fig, ax = _figure("Fault outcomes: tasks completed once, duplicated, lost (count)", caption, height=height)
    labels = [r[0] for r in rows]
    ys = range(len(rows))
    done = [r[1] for r in rows]
    dup = [r[2] for r in rows]
    lost = [r[3] for r in rows]
    ax.barh(ys, done, color="#4c9a2a", label="completed once")
    ax.barh(ys, dup, left=done, color="#e0a800", label="duplicated")
    ax.barh(ys, lost, left=[a + b for a, b in zip(done, dup, strict=True)], color="#c0392b", label="lost")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("tasks")
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.0, 0.0))  # outside: never hides a bar
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
