"""What the report says: a pure function from a :class:`~bench.results.RunResults` to a list of blocks.

Order (issue 5): the answers a Django developer asks first, each with its number and caveat; then details per
scenario; then every setting and the environment; then how each number is measured. A backend that failed
verification is listed as failed and never ranked; a scenario absent from the run is "not measured in this run"; a
scenario this module does not know is still shown, generically.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.environment import key_versions
from bench.report import charts
from bench.report.method import METHOD
from bench.report.metrics import (
    accounting_count,
    flat_samples,
    format_value,
    histogram_percentile,
    metrics_for,
    value,
)
from bench.report.model import Answer, Block, Bullets, Chart, Heading, Paragraph, Table
from bench.results import Record, RunResults

BASELINE = charts.BASELINE
KNOWN_SCENARIOS = (
    "enqueue",
    "throughput",
    "latency",
    "idle_pickup",
    "resources",
    "channel_overhead",
    "retries",
    "faults",
)
_PROFILE_ORDER = ("shipped", "tuned", "safe")
DEFAULT_BOUND_MS = 100.0
NOT_MEASURED = "not measured in this run"
SYNTHETIC_PRESET = "synthetic-fixture"


@dataclass
class Context:
    """What every section needs: the results, the chart caption, the latency bound and the unverified backends."""

    results: RunResults
    caption: str
    bound_ns: float
    unverified: dict[str, str] = field(default_factory=dict)

    def label(self, backend: str) -> str:
        """A backend's display label (from the results' backends section)."""
        info = self.results.backends.get(backend) or {}
        return str(info.get("label") or backend)

    def profiles(self) -> list[str]:
        """Profiles present, in the order shipped, tuned, safe, then others."""
        present = self.results.profiles
        return [p for p in _PROFILE_ORDER if p in present] + [p for p in present if p not in _PROFILE_ORDER]

    def backends(self, records: Sequence[Record]) -> list[str]:
        """Backends of ``records``: real backends sorted by name, the baseline last."""
        names = sorted({r.backend for r in records} - {BASELINE})
        return names + ([BASELINE] if any(r.backend == BASELINE for r in records) else [])


def _context(results: RunResults) -> Context:
    env = results.environment
    versions = ", ".join(f"{k} {v}" for k, v in key_versions(env).items())
    date = str(results.run.get("started_at") or env.get("date") or "unknown date")[:10]
    caption = (
        f"Run {results.run.get('id', '?')} ({date}) · {env.get('cpu_model', 'unknown CPU')}, "
        f"{env.get('cpu_count', '?')} cores · Python {env.get('python', '?')} · Redis {env.get('redis_version', '?')}"
        f" · {versions}"
    )
    if results.run.get("preset") == SYNTHETIC_PRESET:
        caption = "SYNTHETIC TEST DATA, NOT A MEASUREMENT · " + caption
    params = results.run.get("scenario_params") or {}
    bound_ms = params.get("latency_bound_ms") if isinstance(params, dict) else None
    unverified: dict[str, str] = {}
    for r in results.records:
        if r.status == "unverified":
            unverified.setdefault(r.backend, r.error or "verification failed")
    for name, info in results.backends.items():
        if isinstance(info, dict) and info.get("verified") is False:
            unverified.setdefault(name, str(info.get("verification_error") or "verification failed"))
    return Context(results, caption, float(bound_ms or DEFAULT_BOUND_MS) * 1e6, unverified)


# --------------------------------------------------------------------------------------------------------------------
# Shared computations


def _summary_text(values: Sequence[float], unit: str) -> str:
    """'12.3 µs (±4 %, n=3)': median, relative spread and repetitions."""
    if not values:
        return "–"
    s = stats.summarize(values)
    text = format_value(s.median, unit)
    if s.n > 1:
        text += f" (±{s.spread * 50:.0f} %, n={s.n})"
    return text


def _merged_percentiles(records: Sequence[Record], name: str) -> stats.Percentiles | None:
    """Percentiles of the bucket-wise merge of one histogram over the ok repetitions."""
    encoded = [r.histograms[name] for r in records if r.ok and r.histograms.get(name)]
    return stats.percentiles(stats.merge(encoded)) if encoded else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _by_backend(records: Sequence[Record]) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = {}
    for r in records:
        grouped.setdefault(r.backend, []).append(r)
    return grouped


def _param_values(records: Sequence[Record], name: str) -> list[Any]:
    """Distinct values of one parameter, sorted (numbers numerically, others as text)."""
    found = {r.params.get(name) for r in records if name in r.params}
    return sorted(found, key=lambda v: (not isinstance(v, int | float), v if isinstance(v, int | float) else str(v)))


@dataclass
class Ranking:
    """Backends ordered best first by the median of a per-repetition metric, and who could not be ranked."""

    ranked: list[tuple[str, list[float]]]
    excluded: list[str]  # "Label: reason"
    baseline: list[float]


def _rank(
    ctx: Context, records: Sequence[Record], extract: Callable[[Record], float | None], *, higher_is_better: bool
) -> Ranking:
    ranked, excluded, baseline = [], [], []
    for backend, reps in sorted(_by_backend(records).items()):
        values = [v for v in (extract(r) for r in reps if r.ok) if v is not None]
        if backend == BASELINE:
            baseline = values
        elif backend in ctx.unverified:
            excluded.append(f"{ctx.label(backend)}: failed verification, not ranked ({ctx.unverified[backend]})")
        elif not values:
            errors = {r.error for r in reps if r.error} or {"no value"}
            excluded.append(f"{ctx.label(backend)}: failed ({'; '.join(sorted(errors))})")
        else:
            ranked.append((backend, values))
    ranked.sort(key=lambda item: statistics.median(item[1]), reverse=higher_is_better)
    return Ranking(ranked, excluded, baseline)


def _versus_runner_up(ranking: Ranking, unit: str, *, higher_is_better: bool, ctx: Context) -> str:
    """How the winner compares with the second, with the significance test."""
    if len(ranking.ranked) < 2:
        return ""
    (_, best), (second, other) = ranking.ranked[0], ranking.ranked[1]
    cmp = stats.compare_samples(other, best, higher_is_better=higher_is_better)
    return f"; next {ctx.label(second)} {format_value(cmp.base.median, unit)} — winner is {cmp.verdict}"


# --------------------------------------------------------------------------------------------------------------------
# Answers


def _answer_enqueue(ctx: Context) -> Answer:
    question = "Which backend enqueues fastest?"
    records = ctx.results.select(scenario="enqueue")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    tasks = _param_values(records, "task")
    task = "noop" if "noop" in tasks else tasks[0]
    lines = []
    for profile in ctx.profiles():
        selected = ctx.results.select(scenario="enqueue", profile=profile, params={"task": task})
        ranking = _rank(ctx, selected, lambda r: histogram_percentile(r, "latency_ns", "p50"), higher_is_better=False)
        if not ranking.ranked:
            lines.append(f"{profile}: no backend measured" + "".join(f"; {e}" for e in ranking.excluded))
            continue
        best, values = ranking.ranked[0]
        p99 = _median(
            [v for r in selected if r.backend == best for v in [histogram_percentile(r, "latency_ns", "p99")] if v]
        )
        line = (
            f"{profile}: **{ctx.label(best)}**, p50 {_summary_text(values, 'ns')} per `{task}` enqueue, "
            f"p99 {format_value(p99, 'ns')}"
        )
        line += _versus_runner_up(ranking, "ns", higher_is_better=False, ctx=ctx)
        if ranking.baseline:
            line += f"; raw Redis floor p50 {format_value(_median(ranking.baseline), 'ns')}"
        lines.append(line + "".join(f"; {e}" for e in ranking.excluded))
    return Answer(
        question,
        lines,
        "Producer-side cost of the enqueue call only (what a view pays); says nothing about when the task runs.",
    )


def _answer_throughput(ctx: Context) -> Answer:
    question = "Which backend gets the most tasks done per second?"
    records = ctx.results.select(scenario="throughput")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    tasks = _param_values(records, "task")
    task = "noop" if "noop" in tasks else tasks[0]
    modes = _param_values([r for r in records if r.params.get("task") == task], "mode")
    mode = "backlog" if "backlog" in modes else (modes[0] if modes else None)
    lines = []
    for profile in ctx.profiles():
        selected = [
            r
            for r in ctx.results.select(scenario="throughput", profile=profile, params={"task": task})
            if r.params.get("mode") == mode
        ]
        if not selected:
            continue
        measured = [r for r in selected if r.ok and r.backend != BASELINE and value(r, "tasks_per_s") is not None]
        processes = max(_param_values(measured or selected, "processes") or [None], key=lambda p: p or 0)
        at_max = [r for r in selected if r.params.get("processes") == processes]
        ranking = _rank(ctx, at_max, lambda r: value(r, "tasks_per_s"), higher_is_better=True)
        if not ranking.ranked:
            lines.append(f"{profile}: no backend measured" + "".join(f"; {e}" for e in ranking.excluded))
            continue
        best, values = ranking.ranked[0]
        line = (
            f"{profile}: **{ctx.label(best)}**, {_summary_text(values, 'tasks/s')} "
            f"({task}, {mode}, {processes} processes)"
        )
        line += _versus_runner_up(ranking, "tasks/s", higher_is_better=True, ctx=ctx)
        if ranking.baseline:
            line += f"; raw Redis floor {format_value(_median(ranking.baseline), 'tasks/s')}"
        lines.append(line + "".join(f"; {e}" for e in ranking.excluded))
    cores = ctx.results.environment.get("cpu_count", "?")
    return Answer(
        question,
        lines or [NOT_MEASURED],
        f"A noop task measures the queue's own overhead; real tasks (see details) are dominated by their own work. "
        f"Measured on {cores} cores, where more processes than cores compete with the producer and Redis.",
    )


@dataclass
class RatePoint:
    """Latency scenario at one offered rate, merged over repetitions."""

    rate: float
    achieved: float | None
    p50: float
    p99: float
    finish_p99: float | None
    lost: float
    saturated: bool


def _rate_points(ctx: Context, records: Sequence[Record]) -> list[RatePoint]:
    points = []
    for rate in _param_values(records, "rate"):
        reps = [r for r in records if r.params.get("rate") == rate and r.ok]
        start = _merged_percentiles(reps, "to_start_ns")
        if start is None or not start.count:
            continue
        finish = _merged_percentiles(reps, "to_finish_ns")
        achieved = _median([v for v in (value(r, "achieved_rate") for r in reps) if v is not None])
        lost = sum(v for v in (value(r, "lost") for r in reps) if v is not None)
        saturated = bool(lost) or start.p99 > ctx.bound_ns or (achieved is not None and achieved < 0.9 * float(rate))
        points.append(
            RatePoint(float(rate), achieved, start.p50, start.p99, finish.p99 if finish else None, lost, saturated)
        )
    return points


def _max_sustainable(points: Sequence[RatePoint]) -> RatePoint | None:
    best = None
    for p in sorted(points, key=lambda p: p.rate):
        if p.saturated:
            break
        best = p
    return best


def _answer_latency(ctx: Context) -> Answer:
    question = "Which backend keeps latency lowest under load?"
    records = ctx.results.select(scenario="latency")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    bound = format_value(ctx.bound_ns, "ns")
    lines = []
    for profile in ctx.profiles():
        selected = ctx.results.select(scenario="latency", profile=profile)
        if not selected:
            continue
        results = []
        excluded = []
        for backend, reps in _by_backend(selected).items():
            if backend == BASELINE:
                continue
            if backend in ctx.unverified:
                excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
                continue
            best = _max_sustainable(_rate_points(ctx, reps))
            results.append((backend, best))
        results.sort(key=lambda item: (-(item[1].rate if item[1] else -1), item[1].p99 if item[1] else 0))
        if not results:
            continue
        parts = []
        for backend, best in results:
            if best is None:
                parts.append(f"{ctx.label(backend)}: saturated already at the lowest rate")
            else:
                at_top = best.rate == max(_param_values(selected, "rate"))
                parts.append(
                    f"{ctx.label(backend)}: {'≥ ' if at_top else ''}{best.rate:g} tasks/s "
                    f"(p99 to start {format_value(best.p99, 'ns')})"
                )
        parts[0] = "**" + parts[0].replace(":", "**:", 1)
        lines.append(f"{profile}: highest sustainable offered rate — " + "; ".join(parts + excluded))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        f"Sustainable = p99 from intended send to task start within {bound}, no task lost and at least 90 % of the "
        "offered rate achieved; only the offered rates of the preset were tried, so the true limit lies between "
        "the reported rate and the next one.",
    )


def _fault_totals(records: Sequence[Record]) -> tuple[int, int, int, list[str]]:
    done = dup = lost = 0
    kinds: list[str] = []
    for r in records:
        if not r.ok or r.accounting is None:
            continue
        done += int(accounting_count(r, "completed") or 0)
        dup += int(accounting_count(r, "duplicated") or 0)
        lost += int(accounting_count(r, "lost") or 0)
        kinds.append(str(r.params.get("kind", "?")))
    return done, dup, lost, list(dict.fromkeys(kinds))


def _answer_faults(ctx: Context) -> Answer:
    question = "Which backend is safest when workers die or Redis restarts?"
    records = [r for r in ctx.results.select(scenario="faults") if r.accounting is not None or not r.ok]
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    lines = []
    for profile in ctx.profiles():
        rows = []
        excluded = []
        for backend, reps in _by_backend([r for r in records if r.profile == profile]).items():
            if backend == BASELINE:
                continue
            if backend in ctx.unverified:
                excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
                continue
            done, dup, lost, kinds = _fault_totals(reps)
            if not kinds:
                excluded.append(f"{ctx.label(backend)}: fault runs failed")
                continue
            rows.append((lost, dup, backend, done, kinds))
        if not rows:
            continue
        rows.sort()
        parts = [
            f"{ctx.label(b)}: {lost} lost, {dup} duplicated, {done} completed once ({', '.join(kinds)})"
            for lost, dup, b, done, kinds in rows
        ]
        parts[0] = "**" + parts[0].replace(":", "**:", 1)
        lines.append(f"{profile}: " + "; ".join(parts + excluded))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        "Ranked by tasks lost, then duplicated, summed over the fault runs shown. Duplicates are harmless only for "
        "idempotent tasks; the `safe` profile uses each library's documented at-least-once settings.",
    )


@dataclass
class RetryFacts:
    """What one retries record shows."""

    attempts: int
    expected: int | None
    gaps_s: list[float]
    configured_s: float | None
    timeline_s: list[float]


def _retry_facts(record: Record) -> RetryFacts:
    raw = record.samples.get("attempt_times_ns")
    series = list(raw.values()) if isinstance(raw, dict) else ([raw] if raw else [])
    gaps, timeline = [], []
    for times in series:
        ordered = sorted(float(t) for t in times)
        gaps.extend((b - a) / 1e9 for a, b in itertools.pairwise(ordered))
        if not timeline and ordered:
            timeline = [(t - ordered[0]) / 1e9 for t in ordered]
    attempts = value(record, "attempts")
    if attempts is None:
        attempts = max((len(s) for s in series), default=0)
    expected = value(record, "expected_attempts")
    if expected is None:
        fail_times = record.params.get("fail_times")
        max_retries = value(record, "max_retries")
        if isinstance(fail_times, int) and max_retries is not None:
            expected = (max_retries if fail_times < 0 else min(fail_times, max_retries)) + 1
    return RetryFacts(
        int(attempts), None if expected is None else int(expected), gaps, value(record, "configured_delay_s"), timeline
    )


def _answer_retries(ctx: Context) -> Answer:
    question = "Do retries happen as configured?"
    records = ctx.results.select(scenario="retries")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    lines = []
    for profile in ctx.profiles():
        parts = []
        for backend, reps in sorted(_by_backend(ctx.results.select(scenario="retries", profile=profile)).items()):
            if backend == BASELINE:
                continue
            if backend in ctx.unverified:
                parts.append(f"{ctx.label(backend)}: failed verification, not ranked")
                continue
            policy = [r for r in reps if r.ok and r.params.get("task") == "flaky_retry"] or [r for r in reps if r.ok]
            if not policy:
                parts.append(f"{ctx.label(backend)}: retries run failed")
                continue
            facts = [_retry_facts(r) for r in policy]
            honest = all(f.expected is None or f.attempts == f.expected for f in facts)
            gaps = [g for f in facts for g in f.gaps_s]
            configured = next((f.configured_s for f in facts if f.configured_s is not None), None)
            text = f"{ctx.label(backend)}: attempts {'as configured' if honest else '**not** as configured'}"
            if gaps:
                text += f", median gap {statistics.median(gaps):.2f} s"
                if configured is not None:
                    text += f" vs {configured:g} s configured"
            elif all(f.attempts <= 1 for f in facts):
                text += ", no retry observed"
            parts.append(text)
        if parts:
            lines.append(f"{profile}: " + "; ".join(parts))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        "The shop's policy is 3 retries 1 s apart (task flaky_retry), written natively per backend; see the retries "
        "details for exhausted retries and library defaults (flaky_default).",
    )


def _redis_down_lines(ctx: Context, profile: str | None = None) -> list[str]:
    """One line per backend: what enqueue does while Redis is down, and what a Redis restart cost."""
    lines = []
    records = [r for r in ctx.results.select(scenario="faults") if profile is None or r.profile == profile]
    relevant = [r for r in records if r.params.get("kind") in ("redis_down_enqueue", "redis_restart")]
    for backend, reps in sorted(_by_backend(relevant).items()):
        if backend == BASELINE:
            continue
        parts = []
        for r in reps:
            if not r.ok:
                parts.append(f"{r.params.get('kind')}: run failed ({r.error})")
                continue
            if r.params.get("kind") == "redis_down_enqueue":
                what = r.notes.get("outcome") or r.notes.get("exception") or "returned normally"
                call_s = value(r, "call_s")
                parts.append(
                    f"enqueue while Redis is down → {what}" + (f" after {call_s:.3g} s" if call_s is not None else "")
                )
            else:
                done, dup, lost = (int(accounting_count(r, k) or 0) for k in ("completed", "duplicated", "lost"))
                setup = _params_text(r.params, skip=("kind",)) or "default"
                text = f"Redis restart ({setup}) → {lost} lost, {dup} duplicated, {done} completed"
                reconnect = value(r, "reconnect_s")
                if reconnect is not None:
                    text += f", next task completed {reconnect:.3g} s after Redis returned"
                if r.notes.get("manual_restart_needed"):
                    text += f", manual worker restart needed: {r.notes['manual_restart_needed']}"
                parts.append(text)
        prefix = f"{ctx.label(backend)}" + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
        lines.append(f"{prefix}: " + "; ".join(parts))
    return lines


def _answer_redis_down(ctx: Context) -> Answer:
    question = "What happens when Redis goes down?"
    lines = []
    for profile in ctx.profiles():
        lines.extend(f"{profile}, {line}" for line in _redis_down_lines(ctx, profile))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        "Default client settings; a view calling enqueue while Redis is down sees exactly this call behaviour.",
    )


# --------------------------------------------------------------------------------------------------------------------
# Details per scenario


def _params_text(params: dict[str, Any], *, skip: Sequence[str] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k not in skip)


def _failure_note(ctx: Context, records: Sequence[Record]) -> list[Block]:
    bad = [r for r in records if not r.ok]
    if not bad:
        return []
    items = [
        f"{ctx.label(r.backend)} / {r.profile} / {_params_text(r.params) or 'no params'} / rep {r.repetition}: "
        f"{r.status} — {r.error or 'no reason recorded'}"
        for r in bad
    ]
    return [Paragraph("Not measured (failed or unverified):"), Bullets(items)]


def _enqueue_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.profiles():
        for task in _param_values([r for r in records if r.profile == profile], "task"):
            selected = [r for r in records if r.profile == profile and r.params.get("task") == task]
            rows, chart_data = [], {}
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                merged = _merged_percentiles(reps, "latency_ns")
                if merged is None:
                    state = "unverified" if backend in ctx.unverified else "failed"
                    rows.append([ctx.label(backend), *[state] * 7])
                    continue
                per_rep = [v for v in (histogram_percentile(r, "latency_ns", "p50") for r in reps if r.ok) if v]
                spread = stats.summarize(per_rep).spread if per_rep else 0.0
                d = merged.as_dict()
                rows.append(
                    [ctx.label(backend)]
                    + [stats.format_ns(d[k]) for k in ("p50", "p90", "p99", "p99.9", "max")]
                    + [f"{merged.count:,}", f"{len(per_rep)} (p50 ±{spread * 50:.0f} %)"]
                )
                chart_data[ctx.label(backend) if backend != BASELINE else BASELINE] = d
            blocks.append(Heading(3, f"Enqueue latency: {task} ({profile})"))
            blocks.append(
                Table(
                    ["backend", "p50", "p90", "p99", "p99.9", "max", "enqueues", "repetitions"],
                    rows,
                    "Percentiles of all repetitions' histograms merged; ± is half the min–max spread of the "
                    "per-repetition p50 relative to its median.",
                )
            )
            if chart_data:
                fig = charts.enqueue_percentiles(task, chart_data, ctx.caption)
                blocks.append(Chart(f"enqueue-{profile}-{task}", f"Enqueue latency of {task} ({profile})", fig))
    return blocks + _failure_note(ctx, records)


def _throughput_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.profiles():
        mine = [r for r in records if r.profile == profile]
        for task in _param_values(mine, "task"):
            for mode in _param_values([r for r in mine if r.params.get("task") == task], "mode") or [None]:
                selected = [r for r in mine if r.params.get("task") == task and r.params.get("mode") == mode]
                processes = _param_values(selected, "processes")
                rows, series = [], {}
                for backend in ctx.backends(selected):
                    row = [ctx.label(backend)]
                    points = []
                    for p in processes:
                        reps = [r for r in selected if r.backend == backend and r.params.get("processes") == p]
                        values = [v for v in (value(r, "tasks_per_s") for r in reps if r.ok) if v is not None]
                        if values:
                            s = stats.summarize(values)
                            points.append((int(p), s.median, s.min, s.max))
                            lost = sum(v for v in (value(r, "lost") for r in reps if r.ok) if v)
                            row.append(
                                f"{format_value(s.median, 'tasks/s')} [{s.min:.0f}–{s.max:.0f}]"
                                + (f", {lost:.0f} lost" if lost else "")
                            )
                        else:
                            row.append("failed" if reps else "–")
                    rows.append(row)
                    if points:
                        series[ctx.label(backend) if backend != BASELINE else BASELINE] = points
                title = f"Throughput: {task}, {mode} ({profile})"
                blocks.append(Heading(3, title))
                blocks.append(
                    Table(
                        ["backend", *[f"{p} processes" for p in processes]],
                        rows,
                        "Median tasks/s over repetitions [min–max], from task-side timestamps.",
                    )
                )
                if series:
                    fig = charts.throughput_vs_processes(task, str(mode), series, ctx.caption)
                    blocks.append(Chart(f"throughput-{profile}-{task}-{mode}", title, fig))
    return blocks + _failure_note(ctx, records)


def _latency_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.profiles():
        mine = [r for r in records if r.profile == profile]
        for task in _param_values(mine, "task") or [None]:
            selected = [r for r in mine if r.params.get("task") == task]
            rows, series, best_rows = [], {}, []
            for backend in ctx.backends(selected):
                points = _rate_points(ctx, [r for r in selected if r.backend == backend])
                for p in points:
                    rows.append(
                        [
                            ctx.label(backend),
                            f"{p.rate:g}",
                            "–" if p.achieved is None else f"{p.achieved:.1f}",
                            stats.format_ns(p.p50),
                            stats.format_ns(p.p99),
                            stats.format_ns(p.finish_p99),
                            f"{p.lost:.0f}",
                            "**saturated**" if p.saturated else "ok",
                        ]
                    )
                if points:
                    series[ctx.label(backend) if backend != BASELINE else BASELINE] = [
                        (p.rate, p.p50, p.p99, p.saturated) for p in points
                    ]
                best = _max_sustainable(points)
                top = bool(points) and best is not None and best.rate == max(p.rate for p in points)
                best_rows.append(
                    [ctx.label(backend), "none" if best is None else f"{'≥ ' if top else ''}{best.rate:g} tasks/s"]
                    + ([" (failed verification, not ranked)"] if backend in ctx.unverified else [""])
                )
            title = f"Latency under load: {task} ({profile})"
            blocks.append(Heading(3, title))
            blocks.append(
                Table(
                    [
                        "backend",
                        "offered/s",
                        "achieved/s",
                        "to start p50",
                        "to start p99",
                        "to finish p99",
                        "lost",
                        "state",
                    ],
                    rows,
                    f"Latency from the intended send time; repetitions merged. Saturated: p99 to start above "
                    f"{format_value(ctx.bound_ns, 'ns')}, a task lost, or under 90 % of the offered rate achieved.",
                )
            )
            blocks.append(Table(["backend", "maximum sustainable rate", "note"], best_rows))
            if series:
                fig = charts.latency_vs_rate(str(task), series, ctx.bound_ns / 1e6, ctx.caption)
                blocks.append(Chart(f"latency-{profile}-{task}", title, fig))
    return blocks + _failure_note(ctx, records)


def _idle_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows = []
    for profile in ctx.profiles():
        mine = [r for r in records if r.profile == profile]
        for idle in _param_values(mine, "idle_s"):
            for backend in ctx.backends(mine):
                reps = [r for r in mine if r.backend == backend and r.params.get("idle_s") == idle and r.ok]
                samples = [v for r in reps for v in flat_samples(r.samples.get("pickup_ns"))]
                if not samples:
                    continue
                rows.append(
                    [
                        ctx.label(backend),
                        profile,
                        f"{idle:g} s",
                        str(len(samples)),
                        stats.format_ns(statistics.median(samples)),
                        stats.format_ns(min(samples)),
                        stats.format_ns(max(samples)),
                    ]
                )
    return [
        Table(["backend", "profile", "idle for", "samples", "median", "min", "max"], rows, "Enqueue → task start."),
        *_failure_note(ctx, records),
    ]


def _resources_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.profiles():
        mine = [r for r in records if r.profile == profile]
        rows, chart_rows = [], []
        for backend in ctx.backends(mine):
            for processes in _param_values([r for r in mine if r.backend == backend], "processes") or [None]:
                reps = [r for r in mine if r.backend == backend and r.params.get("processes") == processes and r.ok]
                if not reps:
                    continue

                def med(name: str, reps: list[Record] = reps) -> float | None:
                    return _median([v for v in (value(r, name) for r in reps) if v is not None])

                idle, load, cpu = med("rss_idle_bytes"), med("rss_load_bytes"), med("cpu_s_per_1000")
                rows.append(
                    [
                        ctx.label(backend),
                        str(processes),
                        format_value(idle, "bytes"),
                        format_value(load, "bytes"),
                        format_value(cpu, "s"),
                    ]
                )
                chart_rows.append((f"{ctx.label(backend)} ×{processes}", idle, load))
        if not rows:
            continue
        title = f"Resources ({profile})"
        blocks.append(Heading(3, title))
        blocks.append(
            Table(
                ["backend", "processes", "RSS idle", "RSS under load", "CPU per 1000 tasks"],
                rows,
                "All worker processes of the backend together; medians over repetitions.",
            )
        )
        blocks.append(
            Chart(f"memory-{profile}", f"Memory per backend ({profile})", charts.memory(chart_rows, ctx.caption))
        )
    return blocks + _failure_note(ctx, records)


def _generic_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """Any scenario: one row per (backend, profile, params), each numeric value's median over repetitions."""
    metrics = metrics_for(records[0].scenario if records else "", records)
    names = list(dict.fromkeys(k for r in records for k, v in r.values.items() if isinstance(v, int | float)))
    rows = []
    for key, reps in sorted(ctx.results.groups(scenario=records[0].scenario).items() if records else []):
        backend, profile = key[0], key[1]
        ok = [r for r in reps if r.ok]
        row = [ctx.label(backend), profile, _params_text(reps[0].params) or "–", str(len(ok))]
        for name in names:
            med = _median([v for v in (value(r, name) for r in ok) if v is not None])
            row.append("–" if med is None else f"{med:.4g}")
        rows.append(row)
    del metrics  # the registry only decides comparisons; tables show every value
    return [
        Table(["backend", "profile", "params", "repetitions", *names], rows, "Medians over ok repetitions."),
        *_failure_note(ctx, records),
    ]


def _retries_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, timeline = [], []
    for r in sorted(records, key=lambda r: (r.profile, r.backend, _params_text(r.params), r.repetition)):
        if not r.ok:
            continue
        f = _retry_facts(r)
        gaps = f.gaps_s
        err = [g - f.configured_s for g in gaps] if f.configured_s is not None else []
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                _params_text(r.params),
                str(r.repetition),
                f"{f.attempts}" + (f" / {f.expected}" if f.expected is not None else ""),
                "–" if f.configured_s is None else f"{f.configured_s:g} s",
                f"{statistics.median(gaps):.3f} s" if gaps else "–",
                f"{min(gaps):.3f}–{max(gaps):.3f} s" if gaps else "–",
                f"{statistics.median(err):+.3f} s" if err else "–",
                "; ".join(f"{k}: {v}" for k, v in r.notes.items()) or "–",
            ]
        )
        if f.timeline_s and r.repetition == min(x.repetition for x in records if x.key == r.key):
            configured = []
            if f.configured_s is not None and f.expected:
                configured = [i * f.configured_s for i in range(f.expected)]
            label = (
                f"{ctx.label(r.backend)} {r.params.get('task', '')} k={r.params.get('fail_times', '')} ({r.profile})"
            )
            timeline.append((label, f.timeline_s, configured))
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "params",
                "rep",
                "attempts / expected",
                "configured delay",
                "median gap",
                "gap range",
                "median gap error",
                "notes",
            ],
            rows,
            "Gaps between consecutive attempts of one task, from the task side's start times.",
        )
    ]
    if timeline:
        blocks.append(Chart("retry-timelines", "Retry timelines", charts.retry_timelines(timeline, ctx.caption)))
    return blocks + _failure_note(ctx, records)


def _faults_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, chart_rows = [], []
    for key, reps in sorted(ctx.results.groups(scenario="faults").items()):
        backend, profile = key[0], key[1]
        for r in reps:
            if not r.ok:
                continue
            counts = [accounting_count(r, k) for k in ("completed", "duplicated", "lost")]
            extra = "; ".join(
                [f"{k}={v:.3g}" for k, v in r.values.items() if isinstance(v, int | float)]
                + [f"{k}: {v}" for k, v in r.notes.items()]
            )
            rows.append(
                [ctx.label(backend), profile, _params_text(r.params), str(r.repetition)]
                + ["–" if c is None else f"{c:.0f}" for c in counts]
                + [extra or "–"]
            )
            if r.accounting is not None:
                label = f"{ctx.label(backend)} {r.params.get('kind', '?')} ({profile}) #{r.repetition}"
                chart_rows.append((label, *(int(c or 0) for c in counts)))
    blocks: list[Block] = [
        Table(
            ["backend", "profile", "params", "rep", "completed once", "duplicated", "lost", "measured"],
            rows,
            "Every task id enqueued in the fault run ends in exactly one of the three columns.",
        )
    ]
    if chart_rows:
        blocks.append(Chart("fault-outcomes", "Fault outcomes", charts.fault_outcomes(chart_rows, ctx.caption)))
    return blocks + _failure_note(ctx, records)


def _faq(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "FAQ: the tutorial's two questions, measured")]
    blocks.append(Heading(3, "What happens if Redis goes down?"))
    lines = _redis_down_lines(ctx)
    blocks.append(Bullets(lines) if lines else Paragraph(f"Redis fault scenarios: {NOT_MEASURED}."))
    blocks.append(Heading(3, "Can I retry failed tasks?"))
    items = []
    for backend, reps in sorted(_by_backend(ctx.results.select(scenario="retries")).items()):
        parts = []
        for r in reps:
            if not r.ok:
                parts.append(f"{_params_text(r.params)}: run failed ({r.error})")
                continue
            f = _retry_facts(r)
            text = f"{r.params.get('task', '?')} failing {r.params.get('fail_times', '?')}×: {f.attempts} attempts"
            if f.expected is not None:
                text += f" (expected {f.expected})"
            if f.gaps_s:
                text += f", gaps {statistics.median(f.gaps_s):.2f} s median"
            exhausted = r.notes.get("exhausted")
            if exhausted:
                text += f", when exhausted: {exhausted}"
            parts.append(text)
        items.append(f"{ctx.label(backend)}: " + "; ".join(parts))
    blocks.append(Bullets(items) if items else Paragraph(f"Retries: {NOT_MEASURED}."))
    return blocks


_DETAILS: dict[str, tuple[str, Callable[[Context, Sequence[Record]], list[Block]]]] = {
    "enqueue": ("Enqueue latency", _enqueue_details),
    "throughput": ("Throughput", _throughput_details),
    "latency": ("End-to-end latency under load", _latency_details),
    "idle_pickup": ("Idle pickup latency", _idle_details),
    "resources": ("Resources", _resources_details),
    "channel_overhead": ("Measurement channel overhead", _generic_details),
    "retries": ("Retries", _retries_details),
    "faults": ("Faults", _faults_details),
}


# --------------------------------------------------------------------------------------------------------------------
# Settings, environment, method


def _settings(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Settings per backend and profile")]
    for name, info in ctx.results.backends.items():
        if not isinstance(info, dict):
            continue
        versions = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()) or "no versions recorded"
        blocks.append(Heading(3, f"{info.get('label') or name} ({versions})"))
        if name in ctx.unverified:
            blocks.append(Paragraph(f"**Failed verification, not ranked:** {ctx.unverified[name]}"))
        for profile, pinfo in (info.get("profiles") or {}).items():
            argv = " ".join(str(a) for a in pinfo.get("worker_argv") or []) or "–"
            blocks.append(Paragraph(f"**{profile}** — worker command: `{argv}`"))
            settings = pinfo.get("settings") or []
            if settings:
                blocks.append(
                    Table(
                        ["setting", "value", "library default", "reason"],
                        [
                            [str(s.get("setting")), str(s.get("value")), str(s.get("default")), str(s.get("reason"))]
                            for s in settings
                        ],
                    )
                )
            else:
                blocks.append(Paragraph("All library defaults."))
    return blocks


def _environment(ctx: Context) -> list[Block]:
    env = ctx.results.environment
    run = ctx.results.run
    fields = [
        ("run id", run.get("id")),
        ("preset", run.get("preset")),
        ("repetitions", run.get("repetitions")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at")),
        ("command", " ".join(str(a) for a in run.get("argv") or []) or None),
        ("git commit", f"{env.get('git_commit')}{' (dirty)' if env.get('git_dirty') else ''}"),
        ("hostname", env.get("hostname")),
        ("CPU", env.get("cpu_model")),
        ("cores", env.get("cpu_count")),
        ("memory", format_value(env.get("memory_bytes"), "bytes") if env.get("memory_bytes") else None),
        ("load average at start / end", f"{env.get('load_average_start')} / {env.get('load_average_end')}"),
        ("platform", env.get("platform")),
        ("Python", f"{env.get('python')} ({env.get('python_implementation', '?')})"),
        ("Redis", env.get("redis_version")),
    ]
    rows = [[k, str(v)] for k, v in fields if v is not None]
    rows += [[name, version] for name, version in key_versions(env).items()]
    packages = env.get("packages") or {}
    blocks: list[Block] = [Heading(2, "Environment"), Table(["", "value"], rows)]
    if packages:
        blocks.append(Paragraph("All installed distributions: " + ", ".join(f"{k} {v}" for k, v in packages.items())))
    return blocks


def _method(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Method"), Paragraph(METHOD["general"])]
    for scenario in ctx.results.scenarios:
        text = METHOD.get(scenario, "No method description is recorded for this scenario.")
        blocks.append(Paragraph(f"**{scenario}** — {text}"))
    return blocks


# --------------------------------------------------------------------------------------------------------------------


def build(results: RunResults) -> list[Block]:
    """The whole report as blocks, in reading order."""
    ctx = _context(results)
    run = results.run
    blocks: list[Block] = [Heading(1, f"Django task queue benchmark — run {run.get('id', '?')}")]
    if run.get("preset") == SYNTHETIC_PRESET:
        blocks.append(
            Paragraph("**SYNTHETIC TEST DATA — NOT A MEASUREMENT.** This report was generated from a test fixture.")
        )
    blocks.append(
        Paragraph(
            f"Preset **{run.get('preset', '?')}**, {run.get('repetitions', '?')} repetition(s), profiles "
            f"{', '.join(ctx.profiles()) or '–'}, backends {', '.join(ctx.label(b) for b in results.backend_names)}. "
            f"{ctx.caption}."
        )
    )
    if ctx.unverified:
        blocks.append(
            Paragraph(
                "**Failed verification (shown, never ranked):** "
                + "; ".join(f"{ctx.label(b)} — {e}" for b, e in ctx.unverified.items())
            )
        )
    blocks.append(Heading(2, "Answers"))
    blocks += [
        _answer_enqueue(ctx),
        _answer_throughput(ctx),
        _answer_latency(ctx),
        _answer_faults(ctx),
        _answer_retries(ctx),
        _answer_redis_down(ctx),
    ]
    blocks.append(Heading(2, "Details"))
    present = results.scenarios
    for scenario in [*KNOWN_SCENARIOS, *[s for s in present if s not in KNOWN_SCENARIOS]]:
        title, render = _DETAILS.get(scenario, (f"Scenario {scenario}", _generic_details))
        records = results.select(scenario=scenario)
        blocks.append(Heading(3, title))
        if not records:
            blocks.append(Paragraph(f"{title}: {NOT_MEASURED}."))
            continue
        blocks += _demote(render(ctx, records))
    blocks += _faq(ctx)
    blocks += _settings(ctx)
    blocks += _environment(ctx)
    blocks += _method(ctx)
    return blocks


def _demote(blocks: list[Block]) -> list[Block]:
    """Sub-headings of a scenario sit one level below the scenario's own heading."""
    return [Heading(4, b.text) if isinstance(b, Heading) else b for b in blocks]
