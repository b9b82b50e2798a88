"""What the report says: a pure function from a :class:`~bench.results.RunResults` to a list of blocks.

Order (issue 5): the answers a Django developer asks first, each with its number and caveat; then details per
scenario; then the FAQ (issue 4: the tutorial's two questions, per backend, measured); then every setting and the
environment; then how each number is measured. A backend that failed verification is listed as failed and never
ranked; the raw Redis floor (``redis-baseline``) is never ranked but shown beside the backends wherever it was
measured; a scenario absent from the run is "not measured in this run"; a scenario this module does not know is
still shown, generically.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from bench import stats
from bench.environment import key_versions
from bench.report import answers, charts, derived
from bench.report.context import (
    FOLDED_SCENARIOS,
    KNOWN_SCENARIOS,
    NOT_MEASURED,
    STATUS_SCENARIOS,
    SYNTHETIC_PRESET,
    Context,
    _context,
    _fault_sort_key,
    _median,
    _merged_percentiles,
    _param_values,
    _params_text,
    _profile_index,
    _retry_sort_key,
)
from bench.report.facts import (
    CATEGORIES,
    RetryFacts,
    down_enqueue,
    fault_label,
    fault_outcome,
    is_check,
    number,
    premise_not_met,
    retry_facts,
    retry_variant,
    retry_variants,
    survival_text,
    visibility_text,
)
from bench.report.method import METHOD, method_for
from bench.report.metrics import (
    flat_samples,
    format_value,
    histogram_percentile,
    metrics_for,
    value,
)
from bench.report.model import Answer, Block, Bullets, Chart, Contents, Heading, Paragraph, Table
from bench.report.numbers import duration_ns, rate_text
from bench.results import Record, RunResults

# --------------------------------------------------------------------------------------------------------------------
# Shared computations


# --------------------------------------------------------------------------------------------------------------------
# Answers


def _retry_sentence(ctx: Context, reps: Sequence[Record]) -> str:
    """What retries did for one backend and profile, in words."""
    facts = retry_variants(reps)
    checks = [r for r in reps if r.ok and is_check(r)]
    parts = []
    k_policy = retry_variant(facts, "flaky_retry", forever=False)
    if k_policy is not None:
        parts.append(f"shop policy, failing {k_policy.fail_times}×: {k_policy.summary()}")
    forever_policy = retry_variant(facts, "flaky_retry", forever=True)
    if forever_policy is not None:
        text = f"failing forever: {forever_policy.summary()}"
        parts.append(text)
    for r in checks:
        if r.params.get("check") == "exhausted_visibility":
            parts.append(f"{_visibility_label(r)}: {visibility_text(r)}")
        elif str(r.params.get("check", "")).startswith("survives_"):
            parts.append(survival_text(r))
    defaults = [f for f in (retry_variant(facts, "flaky_default", forever=b) for b in (False, True)) if f is not None]
    if defaults:
        most = max(defaults, key=lambda f: f.attempts_max)
        if most.attempts_max <= 1:
            parts.append(
                f"library default (no retry options): 1 attempt, no retry within {most.window_text()} (a retry "
                "scheduled later than that would not be seen)"
            )
        else:
            parts.append(f"library default (no retry options): {most.summary()}")
    failed = [r for r in reps if not r.ok]
    parts += [f"{_params_text(r.params)}: run failed ({r.error})" for r in failed]
    return "; ".join(parts) or NOT_MEASURED


def _merge_profiles(ctx: Context, texts: dict[str, str], backend: str) -> list[str]:
    """One line per backend when every profile says the same, else one line per profile."""
    if not texts:
        return []
    label = ctx.label(backend) + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
    if len(set(texts.values())) == 1:
        return [f"**{label}** ({', '.join(texts)}): {next(iter(texts.values()))}"]
    return [f"**{label}** ({profile}): {text}" for profile, text in texts.items()]


def _answer_retries(ctx: Context) -> list[Block]:
    question = "Do retries happen as configured?"
    records = ctx.results.select(scenario="retries")
    if not records:
        return [Answer(question, [NOT_MEASURED], "")]
    lines, rows = [], []
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {}
        for profile in ctx.scenario_profiles("retries"):
            reps = [r for r in records if r.backend == backend and r.profile == profile]
            if not reps:
                continue
            texts[profile] = _retry_summary(reps)
            facts = retry_variants(reps)
            cells = []
            for task, forever in (
                ("flaky_retry", False),
                ("flaky_retry", True),
                ("flaky_default", False),
                ("flaky_default", True),
            ):
                f = retry_variant(facts, task, forever=forever)
                cells.append(_retry_cell(f))
            visibility = [
                visibility_text(r)
                for r in reps
                if r.ok and r.params.get("check") == "exhausted_visibility" and r.params.get("task") == "flaky_retry"
            ]
            cells.append(visibility[0] if visibility else "–")
            rows.append([ctx.label(backend), profile, *cells])
        lines += _merge_profiles(ctx, texts, backend)
    window = ctx.preset.get("retry_window_s")
    caveat = (
        "The shop's policy is 3 retries 1 s apart (`flaky_retry`), written natively per backend; `flaky_default` is "
        "the task with no retry options. Attempts are counted from the task side's start events over an "
        f"observation window{f' of {window:g} s' if window else ''}: a retry later than the window is not seen, so "
        "'no retry within the window' is what was measured, not a claim that the library never retries."
    )
    table = Table(
        [
            "backend",
            "profile",
            "policy, fails 2× (expect 3 attempts)",
            "policy, fails forever (expect 4)",
            "default, fails 2×",
            "default, fails forever",
            "exhausted failure recorded",
        ],
        rows,
        "Attempts per task (min–max over the tasks of the variant); gaps between attempts, mean (min–max).",
    )
    return [Answer(question, lines or [NOT_MEASURED], caveat), table]


def _visibility_label(record: Record) -> str:
    """Which failure an ``exhausted_visibility`` check looked at: the policy's exhausted task, or the default one."""
    if record.params.get("task") == "flaky_retry":
        return "failure after the policy's retries are exhausted"
    window = record.values.get("window_s")
    after = f" {window:g} s" if isinstance(window, int | float) else ""
    return f"failure of the no-retry-options task{after} after its first attempt (a pending retry is not a failure yet)"


def _retry_summary(reps: Sequence[Record]) -> str:
    """The short form of :func:`_retry_sentence`, for the answers."""
    facts = retry_variants(reps)
    policy = [f for f in (retry_variant(facts, "flaky_retry", forever=b) for b in (False, True)) if f is not None]
    parts = []
    if policy:
        attempts = " and ".join(f"{f.attempts_text()}/{f.expected}" for f in policy if f.expected is not None)
        honoured = all(f.as_expected for f in policy if f.expected is not None)
        gaps = [g for f in policy for g in f.gaps_s]
        text = f"policy attempts {'as configured' if honoured else '**not as configured**'} ({attempts}"
        text += ")" if honoured else f" within {policy[0].window_text()})"
        configured = policy[0].configured_s
        if gaps and configured:
            mean = sum(gaps) / len(gaps)
            # More than 20 % off the configured delay is worth a reader's attention.
            off = abs(mean - configured) > 0.2 * configured
            gap = f"gaps {mean:.2f} s vs {configured:g} s configured"
            text += f", {'**' + gap + '**' if off else gap}"
        parts.append(text)
    for r in reps:
        if r.ok and r.params.get("check") == "exhausted_visibility":
            visible = r.values.get("visible")
            parts.append(
                f"{_visibility_label(r)}: "
                + ("visible to the app" if visible else "**not visible**" if visible is False else "not checked")
            )
    defaults = [f for f in (retry_variant(facts, "flaky_default", forever=b) for b in (False, True)) if f is not None]
    if defaults:
        most = max(defaults, key=lambda f: f.attempts_max)
        if most.attempts_max <= 1:
            parts.append(f"library default: no retry within {most.window_text()}")
        else:
            parts.append(f"library default: {most.attempts_text()} attempts within {most.window_text()}")
    parts += [f"{_params_text(r.params)} failed ({r.error})" for r in reps if not r.ok]
    return "; ".join(parts) or NOT_MEASURED


def _retry_cell(f: RetryFacts | None) -> str:
    if f is None:
        return "–"
    text = f"{f.attempts_text()} attempt{'s' if f.attempts_max != 1 else ''}"
    if f.expected is not None and not f.as_expected:
        text = f"**{text}**"
    gap = f.gap_text()
    return text + (f", {gap}" if gap else "")


def _range(values: Sequence[float], unit: str) -> str:
    """'1.7 s' or '1.7–1.9 s'."""
    lo, hi = min(values), max(values)
    if unit == "ms":
        return f"{lo * 1e3:.1f} ms" if round(lo * 1e3, 1) == round(hi * 1e3, 1) else f"{lo * 1e3:.1f}–{hi * 1e3:.1f} ms"
    return f"{lo:.1f} s" if round(lo, 1) == round(hi, 1) else f"{lo:.1f}–{hi:.1f} s"


def _down_enqueue_summary(facts: Sequence[Any]) -> list[str]:
    """'enqueue raised X after 0.8–1.0 ms; the view got a clean EnqueueFailed' over the profiles."""
    if not facts:
        return []
    parts = []
    blocked = [f for f in facts if f.blocked]
    if blocked:
        parts.append(
            f"the enqueue call **blocked** (no answer after {_range([f.timeout_s or 0 for f in blocked], 's')})"
        )
    returned = [f for f in facts if not f.blocked]
    if returned:
        outcomes = sorted({f.call_text().split(" after ")[0] for f in returned})
        times = [f.call_s for f in returned if f.call_s is not None]
        parts.append("enqueue " + " or ".join(outcomes) + (f" after {_range(times, 'ms')}" if times else ""))
    views = sorted({f.view_text().split(" after ")[0].split(" (")[0] for f in facts})
    return [*parts, "the view got " + " or ".join(views)]


def _down_sentence(ctx: Context, reps: Sequence[Record]) -> str:
    """Redis down at enqueue time and Redis restart outcomes for one backend and profile."""
    parts = []
    for r in sorted(reps, key=lambda r: (r.params.get("kind") != "redis_down_enqueue", _fault_sort_key(r))):
        kind = r.params.get("kind")
        if kind == "redis_down_enqueue":
            if not r.ok:
                parts.append(f"enqueue while down: run failed ({r.error})")
                continue
            d = down_enqueue(r)
            assert d is not None
            parts.append(f"enqueue while Redis is down {d.call_text()}; the shop view got {d.view_text()}")
        elif kind == "redis_restart":
            if not r.ok:
                parts.append(f"{fault_label(r.params)}: run failed ({r.error})")
                continue
            o = fault_outcome(r)
            if o is None:
                continue
            down = number(r, "down_s")
            text = (o.label[:-1] + f", {down:g} s down)" if down and o.label.endswith(")") else o.label) + ": "
            if o.manual_restart:
                text += "workers did **not** resume on their own (manual restart needed)"
            elif o.reconnect_s is not None:
                text += f"workers resumed on their own, a new task done {o.reconnect_s:.1f} s after Redis returned"
            else:
                text += "recovery not measured"
            text += f"; {o.verdict()}"
            parts.append(text)
    return "; ".join(parts)


def _redis_down_lines(ctx: Context) -> list[str]:
    """One line per backend (or per backend and profile when the profiles differ)."""
    records = [
        r
        for r in ctx.results.select(scenario="faults")
        if r.params.get("kind") in ("redis_down_enqueue", "redis_restart")
    ]
    lines = []
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            reps = [r for r in records if r.backend == backend and r.profile == profile]
            if reps:
                texts[profile] = _down_sentence(ctx, reps)
        lines += _merge_profiles(ctx, texts, backend)
    return lines


def _answer_redis_down(ctx: Context) -> Answer:
    question = "What happens when Redis goes down?"
    records = [
        r
        for r in ctx.results.select(scenario="faults")
        # A fault session that failed as a whole has no kind: it did not measure Redis either.
        if r.params.get("kind", "redis_down_enqueue" if not r.ok else None) in ("redis_down_enqueue", "redis_restart")
    ]
    lines = []
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        mine = [r for r in records if r.backend == backend]
        parts = _down_enqueue_summary([d for r in mine if (d := down_enqueue(r)) is not None])
        outcomes = [o for r in sorted(mine, key=_fault_sort_key) if (o := fault_outcome(r)) is not None]
        if outcomes:
            reconnect = [o.reconnect_s for o in outcomes if o.reconnect_s is not None]
            if any(o.manual_restart for o in outcomes):
                parts.append("after a restart the workers needed a **manual restart**")
            elif reconnect:
                parts.append(
                    f"after a restart the workers resumed on their own (new tasks done {_range(reconnect, 's')} "
                    "after Redis returned)"
                )
            for profile in ctx.scenario_profiles("faults"):
                mine_p = [o for o in outcomes if o.record.profile == profile]
                if mine_p:
                    parts.append(f"{profile}: " + ", ".join(f"{o.label} {answers.fault_cell_text(o)}" for o in mine_p))
        label = ctx.label(backend) + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
        failed = [
            f"{fault_label(r.params) if 'kind' in r.params else 'fault scenarios'} ({r.profile}) failed: {r.error}"
            for r in mine
            if not r.ok
        ]
        lines.append(f"**{label}**: " + "; ".join(parts + failed))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        "Default client settings. The enqueue call is the library's own (`.delay()`, `.send()`, calling the Huey "
        "task, `async_task`); the view is the shop's `submit()`, which records a TaskRun and turns a refused "
        "enqueue into `EnqueueFailed`. Lost after a restart: tasks that were in Redis (queued, delayed, retrying) "
        "or running when it stopped. The FAQ below tells the whole story per backend.",
    )


# --------------------------------------------------------------------------------------------------------------------
# Details per scenario


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


def _microbench_table(ctx: Context, profile: str) -> list[Block]:
    """The pytest-benchmark cross-check of the noop enqueue, when the run has it."""
    records = ctx.results.select(scenario="enqueue_microbench", profile=profile)
    if not records:
        return []
    rows = []
    for backend in ctx.backends(records):
        reps = [r for r in records if r.backend == backend]
        ok = [r for r in reps if r.ok]
        if not ok:
            rows.append([ctx.label(backend), *["failed"] * 4, "; ".join(r.error or "?" for r in reps)])
            continue

        def med(name: str, ok: list[Record] = ok) -> float | None:
            return _median([v for v in (value(r, name) for r in ok) if v is not None])

        files = ", ".join(f"`{f}`" for r in ok for f in r.samples.get("json", []))
        mean, std = med("mean_s"), med("stddev_s")
        rows.append(
            [
                ctx.label(backend),
                format_value(None if med("median_s") is None else med("median_s") * 1e9, "ns"),
                format_value(None if med("min_s") is None else med("min_s") * 1e9, "ns"),
                f"{format_value(mean * 1e9, 'ns')} ± {format_value(std * 1e9, 'ns')}" if mean and std else "–",
                f"{med('rounds'):.0f}" if med("rounds") else "–",
                files or "–",
            ]
        )
    return [
        Heading(3, f"Enqueue microbenchmark: noop ({profile})"),
        Table(
            ["backend", "median", "min", "mean ± stddev", "rounds", "pytest-benchmark JSON (beside results.json)"],
            rows,
            "pytest-benchmark of the same noop enqueue call (GC disabled): an independent cross-check of the HDR "
            "numbers above.",
        ),
    ]


def _enqueue_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("enqueue"):
        for task in _param_values([r for r in records if r.profile == profile and "task" in r.params], "task"):
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
                    + [duration_ns(d[k]) for k in ("p50", "p90", "p99", "p99.9", "max")]
                    + [f"{merged.count:,}", f"{len(per_rep)} (p50 ±{spread * 50:.0f} %)"]
                )
                chart_data[ctx.label(backend)] = d
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
        blocks += _microbench_table(ctx, profile)
    return blocks + _failure_note(ctx, records)


def _throughput_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("throughput"):
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
                                format_value(s.median, "tasks/s")
                                + (f" [{s.min:,.0f}–{s.max:,.0f}]" if s.n > 1 else "")
                                + (f", {lost:.0f} lost" if lost else "")
                            )
                        else:
                            row.append("failed" if reps else "–")
                    rows.append(row)
                    if points:
                        series[ctx.label(backend)] = points
                title = f"Throughput: {task}, {mode} ({profile})"
                blocks.append(Heading(3, title))
                blocks.append(
                    Table(
                        ["backend", *[f"{p} process{'es' if p != 1 else ''}" for p in processes]],
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
    for profile in ctx.scenario_profiles("latency"):
        mine = [r for r in records if r.profile == profile]
        for task in _param_values(mine, "task") or [None]:
            selected = [r for r in mine if r.params.get("task") == task]
            rows, series, best_rows = [], {}, []
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                states = derived.rate_states(reps, ctx.bound_ns)
                for p in states:
                    lag = _median(
                        [
                            v
                            for r in reps
                            if r.params.get("rate") == p.rate
                            for v in [value(r, "max_send_lag_ns")]
                            if v is not None
                        ]
                    )
                    done = rate_text(p.completed_per_s, "").strip()
                    rows.append(
                        [
                            ctx.label(backend),
                            f"{p.rate:g}",
                            rate_text(p.sent_per_s, "").strip(),
                            done if p.completed_exact or done == "–" else f"≥ {done}",
                            duration_ns(p.p50),
                            duration_ns(p.p99),
                            duration_ns(p.finish_p99),
                            f"{p.lost:.0f}",
                            duration_ns(lag),
                            p.state if p.sustained else f"**{p.state}**",
                        ]
                    )
                if states:
                    series[ctx.label(backend)] = [(p.rate, p.p50, p.p99, p.state) for p in states]
                note = (
                    "floor, not ranked"
                    if ctx.is_floor(backend)
                    else "failed verification, not ranked"
                    if backend in ctx.unverified
                    else ""
                )
                failure = derived.first_failure(states)
                best_rows.append(
                    [
                        ctx.label(backend),
                        derived.sustainable_text(states),
                        f"{failure.rate:g}/s: {answers.failure_text(failure)}" if failure else "–",
                        note,
                    ]
                )
            title = f"Latency under load: {task} ({profile})"
            blocks.append(Heading(3, title))
            blocks.append(
                Table(
                    [
                        "backend",
                        "offered/s",
                        "sent/s",
                        "completed/s",
                        "to start p50",
                        "to start p99",
                        "to finish p99",
                        "lost",
                        "producer max lag",
                        "state",
                    ],
                    rows,
                    "Latency from the intended send time; repetitions merged. sent/s: the producer's achieved send "
                    "rate; completed/s: completions per second (≥: a lower bound — completions ÷ (intended send span "
                    "+ spread of the to-finish latencies) — where the record has no measured completion rate). "
                    f"Over the latency bound: p99 to start above {duration_ns(ctx.bound_ns)} while completions kept "
                    "up; saturated: sent/s under 90 % of offered or completed/s under 90 % of sent/s; tasks lost: "
                    "not finished within the drain timeout. Producer max lag: how late the worst send was (it counts "
                    "in the latency).",
                )
            )
            blocks.append(Table(["backend", "maximum sustainable rate", "first rate not sustained", "note"], best_rows))
            if series:
                fig = charts.latency_vs_rate(str(task), series, ctx.bound_ns / 1e6, ctx.caption)
                blocks.append(Chart(f"latency-{profile}-{task}", title, fig))
    return blocks + _failure_note(ctx, records)


def _idle_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows = []
    for profile in ctx.scenario_profiles("idle_pickup"):
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
                        duration_ns(statistics.median(samples)),
                        duration_ns(min(samples)),
                        duration_ns(max(samples)),
                    ]
                )
    return [
        Table(
            ["backend", "profile", "idle for", "samples", "median", "min", "max"],
            rows,
            "Enqueue call → task start, after the workers had been idle.",
        ),
        *_failure_note(ctx, records),
    ]


def _resources_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("resources"):
        mine = [r for r in records if r.profile == profile]
        rows, chart_rows = [], []
        has_pss = any(value(r, "pss_idle_bytes") is not None for r in mine)
        for backend in ctx.backends(mine):
            for processes in _param_values([r for r in mine if r.backend == backend], "processes") or [None]:
                reps = [r for r in mine if r.backend == backend and r.params.get("processes") == processes and r.ok]
                if not reps:
                    continue

                def med(name: str, reps: list[Record] = reps) -> float | None:
                    return _median([v for v in (value(r, name) for r in reps) if v is not None])

                row = [ctx.label(backend), str(processes)]
                if has_pss:
                    row += [format_value(med("pss_idle_bytes"), "bytes"), format_value(med("pss_load_bytes"), "bytes")]
                row += [
                    format_value(med("rss_idle_bytes"), "bytes"),
                    format_value(med("rss_load_bytes"), "bytes"),
                    _cpu_text(med("cpu_s_per_1000")),
                ]
                rows.append(row)
                kind = "pss" if has_pss else "rss"
                chart_rows.append(
                    (f"{ctx.label(backend)} ×{processes}", med(f"{kind}_idle_bytes"), med(f"{kind}_load_bytes"))
                )
        if not rows:
            continue
        title = f"Resources ({profile})"
        blocks.append(Heading(3, title))
        headers = ["backend", "processes"]
        if has_pss:
            headers += ["PSS idle", "PSS under load"]
        headers += ["RSS idle", "RSS under load", "CPU per 1000 tasks"]
        blocks.append(
            Table(
                headers,
                rows,
                "All processes of the worker tree together, idle (1 s after the backlog drained) and the peak while "
                "draining the noop backlog; PSS shares pages common to forked processes out fairly (RSS counts them "
                "once per process). CPU = user + system seconds of the tree per 1,000 noop tasks. Medians over "
                "repetitions.",
            )
        )
        blocks.append(
            Chart(
                f"memory-{profile}",
                f"Memory per backend ({profile})",
                charts.memory(chart_rows, ctx.caption, kind="PSS" if has_pss else "RSS"),
            )
        )
    return blocks + _failure_note(ctx, records)


def _cpu_text(cpu: float | None) -> str:
    # Draining 1,000 tasks cannot take zero CPU: a 0 means the harness failed to read the workers' CPU time.
    return "0 (not read)" if cpu == 0 else format_value(cpu, "s")


def _channel_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """The channel's cost per event, and its share of a noop task at the measured throughput."""
    rows = []
    for profile in ctx.scenario_profiles("channel_overhead"):
        for backend in ctx.backends([r for r in records if r.profile == profile]):
            reps = [r for r in records if r.backend == backend and r.profile == profile and r.ok]
            if not reps:
                continue
            p50 = _median([v for v in (value(r, "write_ns_p50") for r in reps) if v is not None])
            p99 = _median([v for v in (value(r, "write_ns_p99") for r in reps) if v is not None])
            per_task, share = _channel_share(ctx, backend, profile, p50)
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    duration_ns(p50),
                    duration_ns(p99),
                    duration_ns(2 * p50) if p50 is not None else "–",
                    per_task,
                    share,
                ]
            )
    return [
        Table(
            [
                "backend",
                "profile",
                "write p50",
                "write p99",
                "per task (2 events)",
                "noop task time per worker process",
                "channel share",
            ],
            rows,
            "One event = one os.write of a short line to an O_APPEND file, timed in a process with the backend's "
            "environment. Every task writes two (start, finish). Noop task time per worker process = worker "
            "processes ÷ noop backlog throughput at that process count; the share is the two writes' p50 against it.",
        ),
        *_failure_note(ctx, records),
    ]


def _channel_share(ctx: Context, backend: str, profile: str, write_ns: float | None) -> tuple[str, str]:
    throughput = [
        r
        for r in ctx.results.select(backend=backend, profile=profile, scenario="throughput", params={"task": "noop"})
        if r.ok and r.params.get("mode") == "backlog" and value(r, "tasks_per_s")
    ]
    if not throughput or write_ns is None:
        return "–", "–"
    processes = ctx.default_processes
    at = [r for r in throughput if r.params.get("processes") == processes] or throughput
    p = at[0].params.get("processes") or 1
    tps = _median([value(r, "tasks_per_s") or 0.0 for r in at]) or 0.0
    if not tps:
        return "–", "–"
    per_task_ns = float(p) / tps * 1e9
    return (
        f"{duration_ns(per_task_ns)} ({p} processes, {tps:,.0f} tasks/s)",
        f"{2 * write_ns / per_task_ns * 100:.2g} %",
    )


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
    rows, checks, timeline = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, _profile_index(r.profile), _retry_sort_key(r), r.repetition)):
        if not r.ok:
            continue
        if is_check(r):
            check = str(r.params.get("check"))
            text = visibility_text(r) if check == "exhausted_visibility" else survival_text(r)
            detail = r.notes.get("detail")
            detail_text = (
                ", ".join(f"{k}: {v}" for k, v in detail.items()) if isinstance(detail, dict) else str(detail or "")
            )
            task = str(r.params.get("task", "–"))
            fails = r.params.get("fail_times")
            if isinstance(fails, int):
                task += " (fails forever)" if fails < 0 else f" (fails {fails}×)"
            checks.append([ctx.label(r.backend), r.profile, check, task, text, detail_text or "–"])
            continue
        f = retry_facts(r)
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                f.task,
                "forever" if f.forever else f"{f.fail_times}×",
                str(f.tasks),
                f.attempts_text(),
                "library default" if f.expected is None else str(f.expected),
                "–" if f.succeeded is None else f"{f.succeeded}/{f.tasks}",
                "–" if f.configured_s is None else f"{f.configured_s:g} s",
                f"{sum(f.gaps_s) / len(f.gaps_s):.3f} s" if f.gaps_s else "–",
                f"{min(f.gaps_s):.3f}–{max(f.gaps_s):.3f} s" if f.gaps_s else "–",
                "–" if f.gap_error_max_s is None else f"{f.gap_error_max_s * 1e3:.0f} ms",
                "–" if f.window_s is None else f"{f.window_s:g} s",
            ]
        )
        if f.timeline_s and (f.attempts_max > 1 or f.expected):
            configured = []
            if f.configured_s is not None and f.expected:
                configured = [i * f.configured_s for i in range(f.expected)]
            label = f"{ctx.label(r.backend)} {f.task} {'forever' if f.forever else f'{f.fail_times}×'} ({r.profile})"
            timeline.append((label, f.timeline_s, configured))
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "task",
                "fails",
                "tasks",
                "attempts",
                "expected",
                "succeeded",
                "configured delay",
                "mean gap",
                "gap range",
                "max gap error",
                "window",
            ],
            rows,
            "Attempts per task (min–max) and gaps between consecutive attempt starts of one task, from the task "
            "side's start events.",
        )
    ]
    if checks:
        blocks.append(
            Table(
                ["backend", "profile", "check", "task", "result", "detail"],
                checks,
                "exhausted_visibility: where the library itself records tasks whose retries ran out (its own API).",
            )
        )
    if timeline:
        blocks.append(Chart("retry-timelines", "Retry timelines", charts.retry_timelines(timeline, ctx.caption)))
    return blocks + _failure_note(ctx, records)


def _faults_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, down_rows, premise_rows = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, _profile_index(r.profile), *_fault_sort_key(r))):
        why = premise_not_met(r)
        if why is not None:
            premise_rows.append([ctx.label(r.backend), r.profile, fault_label(r.params), why])
            continue
        if not r.ok:
            continue
        if r.params.get("kind") == "redis_down_enqueue":
            d = down_enqueue(r)
            assert d is not None
            down_rows.append([ctx.label(r.backend), r.profile, d.call_text(), d.message or "–", d.view_text()])
            continue
        o = fault_outcome(r)
        if o is None:
            rows.append([ctx.label(r.backend), r.profile, fault_label(r.params), *["–"] * 6])
            continue
        timings = o.timing()
        before = value(r, "finished_before_restart")
        if before is not None:
            timings += f"; {before:.0f} finished before the workers were restarted"
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                o.label,
                str(o.tasks),
                "–" if o.at_risk is None else str(o.at_risk),
                str(o.completed),
                o.verdict(),
                premise_seen(r) or "–",
                timings.strip("; ") or "–",
            ]
        )
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "fault",
                "tasks",
                "at risk",
                "completed once",
                "outcome",
                "state at the fault",
                "timings",
            ],
            rows,
            "Every task id enqueued before the fault ends in exactly one of completed once / duplicated / stranded "
            "(held by the library, handed back later) / gone (held nowhere); older results files only have 'not "
            "finished within the window (not classified)'. Categories: "
            + "; ".join(f"{k} = {v}" for k, v in CATEGORIES.items())
            + ".",
        )
    ]
    if premise_rows:
        blocks.append(
            Table(
                ["backend", "profile", "fault", "premise not met"],
                premise_rows,
                "Faults whose premise did not hold at the fault instant: recorded, shown, never ranked.",
            )
        )
    if down_rows:
        blocks.append(
            Table(
                ["backend", "profile", "enqueue call while Redis is down", "message", "shop view (`submit`)"],
                down_rows,
                "The library's own enqueue call and the shop's view-side submit, each timed in a thread (a call "
                "still running after the limit counts as blocking).",
            )
        )
    grid = _fault_grid(ctx)
    if grid is not None:
        blocks.append(grid)
    return blocks + _failure_note(ctx, records)


def premise_seen(record: Record) -> str:
    """'running: 2 running; waiting: 10 queued' — each category's state at the fault instant, as recorded."""
    premise = record.notes.get("premise")
    seen = premise.get("seen") if isinstance(premise, dict) else None
    if not isinstance(seen, dict):
        return ""
    return "; ".join(
        f"{category}: " + ", ".join(f"{n} {state}" for state, n in states.items())
        for category, states in seen.items()
        if isinstance(states, dict)
    )


def _fault_grid(ctx: Context) -> Chart | None:
    """Backend × fault grid, one panel per profile, each cell coloured by its outcome."""
    kinds = answers.fault_kinds(ctx)
    profiles = ctx.scenario_profiles("faults")
    records = [r for r in ctx.results.select(scenario="faults") if not ctx.is_floor(r.backend)]
    backends = [b for b in ctx.backends(records)]
    if not kinds or not backends:
        return None
    panels = []
    for profile in profiles:
        grid = []
        for backend in backends:
            row = []
            for kind, persistence in kinds:
                record = next(
                    (
                        r
                        for r in records
                        if r.backend == backend
                        and r.profile == profile
                        and r.params.get("kind") == kind
                        and r.params.get("persistence") == persistence
                    ),
                    None,
                )
                if record is None:
                    row.append(("", "na"))
                elif premise_not_met(record) is not None:
                    row.append(("premise\nnot met", "na"))
                elif (o := fault_outcome(record)) is None:
                    row.append(("failed", "na"))
                else:
                    row.append((answers.fault_cell_text(o).replace(" · ", "\n"), answers.fault_tone(o)))
            grid.append(row)
        panels.append((profile, grid))
    columns = [fault_label({"kind": k, "persistence": p}) for k, p in kinds]
    fig = charts.fault_grid(columns, [ctx.label(b) for b in backends], panels, ctx.caption)
    return Chart("fault-outcomes", "Fault outcomes per backend and fault", fig)


def _faq(ctx: Context) -> list[Block]:
    """Issue 4's FAQ: the tutorial's two questions, answered per backend with the measured numbers."""
    blocks: list[Block] = [Heading(2, "FAQ: the tutorial's two questions, measured")]
    blocks.append(Heading(3, "What happens if Redis goes down?"))
    blocks.append(
        Paragraph(
            "The tutorial's answer: “Your tasks won't be sent or picked up. But once Redis comes back, things "
            "should resume.” Measured, per backend:"
        )
    )
    lines = _redis_down_lines(ctx)
    blocks.append(Bullets(lines) if lines else Paragraph(f"Redis fault scenarios: {NOT_MEASURED}."))
    worker = _worker_fault_lines(ctx)
    if worker:
        blocks.append(Paragraph("And when a worker dies instead (the other half of “things should resume”):"))
        blocks.append(Bullets(worker))
    blocks.append(Heading(3, "Can I retry failed tasks?"))
    blocks.append(Paragraph("The tutorial's answer: “Yes!”. Measured, per backend:"))
    items = []
    records = ctx.results.select(scenario="retries")
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {
            profile: _retry_sentence(ctx, [r for r in records if r.backend == backend and r.profile == profile])
            for profile in ctx.scenario_profiles("retries")
            if any(r.backend == backend and r.profile == profile for r in records)
        }
        items += _merge_profiles(ctx, texts, backend)
    blocks.append(Bullets(items) if items else Paragraph(f"Retries: {NOT_MEASURED}."))
    return blocks


def _worker_fault_lines(ctx: Context) -> list[str]:
    """Per backend: SIGKILL/SIGTERM outcomes in words."""
    records = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") in ("sigkill", "sigterm")]
    lines = []
    for backend in ctx.backends(records):
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            parts = []
            for r in sorted((r for r in records if r.backend == backend and r.profile == profile), key=_fault_sort_key):
                o = fault_outcome(r)
                if o is None:
                    why = premise_not_met(r)
                    state = f"premise not met, not ranked ({why})" if why else f"run failed ({r.error})"
                    parts.append(f"{fault_label(r.params)}: {state}")
                    continue
                text = f"{o.label}: {o.verdict()}"
                if o.timing():
                    text += f", {o.timing()}"
                parts.append(text)
            if parts:
                texts[profile] = "; ".join(parts)
        lines += _merge_profiles(ctx, texts, backend)
    return lines


_DETAILS: dict[str, tuple[str, Callable[[Context, Sequence[Record]], list[Block]]]] = {
    "enqueue": ("Enqueue latency", _enqueue_details),
    "throughput": ("Throughput", _throughput_details),
    "latency": ("End-to-end latency under load", _latency_details),
    "idle_pickup": ("Idle pickup latency", _idle_details),
    "resources": ("Resources", _resources_details),
    "channel_overhead": ("Measurement channel overhead", _channel_details),
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
        described = info.get("profiles") or {}
        for profile, pinfo in described.items():
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
        missing = [p for p in ctx.profiles() if p not in described and ctx.results.select(backend=name, profile=p)]
        for profile in missing:
            blocks.append(
                Paragraph(
                    f"**{profile}** — measured, but this results file does not record the profile's worker command "
                    "and settings." + (" The `safe` profile also sets SHOP_FAST_FAULTS=1." if profile == "safe" else "")
                )
            )
    return blocks


def _verification(ctx: Context) -> list[Block]:
    """Per backend and profile: verified before measuring, failed verification, or a crashed session."""
    rows = []
    for backend in ctx.backends(ctx.results.records):
        for profile in ctx.profiles():
            mine = ctx.results.select(backend=backend, profile=profile)
            if not mine:
                continue
            verification = [r for r in mine if r.scenario == "verification" and not r.ok]
            crashed = [r for r in mine if r.scenario == "session" and not r.ok]
            unverified = [r for r in mine if r.status == "unverified"]
            measured = [r for r in mine if r.ok]
            failed = [r for r in mine if not r.ok and r.scenario not in STATUS_SCENARIOS and r.status != "unverified"]
            if verification or unverified:
                status = "**failed verification** — " + "; ".join(
                    r.error or "no reason recorded" for r in verification + unverified
                )
            elif ctx.is_floor(backend):
                status = (
                    "floor (a raw broker loop): no shop tasks; its readiness probe (a noop round trip) is its check"
                )
            elif measured:
                status = "passed (the shop's real work checked on its real workers before measuring)"
            else:
                status = "nothing measured"
            if crashed:
                status += "; " + "; ".join(f"session crashed ({_params_text(r.params)}): {r.error}" for r in crashed)
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    status,
                    str(len(measured)),
                    str(len(failed)) if failed else "0",
                ]
            )
    return [
        Table(
            ["backend", "profile", "verification", "records measured", "records failed"],
            rows,
            "A backend that fails verification is shown as failed and never ranked; failed records are listed with "
            "their reason under each scenario.",
        )
    ]


def _environment(ctx: Context) -> list[Block]:
    env = ctx.results.environment
    run = ctx.results.run
    fields = [
        ("run id", run.get("id")),
        ("preset", run.get("preset")),
        ("repetitions", run.get("repetitions")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at") or "not finished (the run was still going or was interrupted)"),
        ("command", " ".join(str(a) for a in run.get("argv") or []) or None),
        ("run order seed", run.get("seed")),
        ("broker", run.get("redis")),
        ("git commit", f"{env.get('git_commit')}{' (dirty)' if env.get('git_dirty') else ''}"),
        ("hostname", env.get("hostname")),
        ("CPU", env.get("cpu_model")),
        ("cores", env.get("cpu_count")),
        ("memory", f"{env['memory_bytes'] / 2**30:.1f} GiB" if env.get("memory_bytes") else None),
        ("load average at start / end", f"{env.get('load_average_start')} / {env.get('load_average_end')}"),
        ("platform", env.get("platform")),
        ("Python", f"{env.get('python')} ({env.get('python_implementation', '?')})"),
        ("Redis", env.get("redis_version")),
    ]
    rows = [[k, str(v)] for k, v in fields if v is not None]
    rows += [[name, version] for name, version in key_versions(env).items()]
    blocks: list[Block] = [Heading(2, "Environment"), Table(["", "value"], rows)]
    if ctx.preset:
        blocks.append(
            Table(
                ["preset parameter", "value"],
                [[k, _plain(v)] for k, v in ctx.preset.items()],
                "The workload sizes of the run (bench/presets.toml).",
            )
        )
    packages = env.get("packages") or {}
    if packages:
        blocks.append(Paragraph("All installed distributions: " + ", ".join(f"{k} {v}" for k, v in packages.items())))
    return blocks


def _plain(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} = {x}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def _method(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Method"), Paragraph(METHOD["general"])]
    present = [s for s in ctx.results.scenarios if s not in STATUS_SCENARIOS and s not in FOLDED_SCENARIOS]
    ordered = [s for s in KNOWN_SCENARIOS if s in present] + [s for s in present if s not in KNOWN_SCENARIOS]
    for scenario in ordered:
        blocks.append(Paragraph(f"**{scenario}** — {method_for(scenario, ctx.preset)}"))
    return blocks


# --------------------------------------------------------------------------------------------------------------------


def build(results: RunResults) -> list[Block]:
    """The whole report as blocks, in reading order: scorecard, contents, answers, FAQ, details, settings, method."""
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
            f"{', '.join(ctx.profiles()) or '–'}; measured on {ctx.machine}. Ratios are to the floor (the raw "
            "broker loop) measured in the same run; absolute values hold for this machine only."
        )
    )
    card = answers.scorecard(ctx)
    if card is not None:
        blocks.append(card)
    toc_at = len(blocks)
    real = [b for b in results.backend_names if not ctx.is_floor(b)]
    floors = [b for b in results.backend_names if ctx.is_floor(b)]
    blocks.append(
        Paragraph(
            f"Backends {', '.join(ctx.label(b) for b in real) or '–'}"
            + (f"; floors {', '.join(ctx.label(b) for b in floors)} (never ranked)" if floors else "")
            + f". {ctx.caption}."
        )
    )
    if not run.get("finished_at"):
        blocks.append(Paragraph("**This run had not finished when the report was written: results are partial.**"))
    if ctx.unverified:
        blocks.append(
            Paragraph(
                "**Failed verification (shown, never ranked):** "
                + "; ".join(f"{ctx.label(b)} — {e}" for b, e in ctx.unverified.items())
            )
        )
    else:
        verified = [ctx.label(b) for b in real if any(r.ok for r in results.select(backend=b))]
        if verified:
            blocks.append(Paragraph(f"Verified before measuring: {', '.join(verified)} (see Verification)."))
    blocks.append(Heading(2, "Answers"))
    need_redis = answers.answer_need_redis(ctx)
    blocks += [
        answers.answer_enqueue(ctx),
        answers.answer_throughput(ctx),
        answers.answer_latency(ctx),
        *([need_redis] if need_redis is not None else []),
        answers.answer_faults(ctx),
        *_answer_retries(ctx),
        _answer_redis_down(ctx),
    ]
    blocks += _faq(ctx)
    blocks.append(Heading(2, "Details"))
    blocks.append(Heading(3, "Verification"))
    blocks += _verification(ctx)
    present = [s for s in results.scenarios if s not in STATUS_SCENARIOS and s not in FOLDED_SCENARIOS]
    for scenario in [*KNOWN_SCENARIOS, *[s for s in present if s not in KNOWN_SCENARIOS]]:
        title, render = _DETAILS.get(scenario, (f"Scenario {scenario}", _generic_details))
        records = results.select(scenario=scenario)
        blocks.append(Heading(3, title))
        if not records:
            blocks.append(Paragraph(f"{title}: {NOT_MEASURED}."))
            continue
        blocks += _demote(render(ctx, records))
    blocks += _settings(ctx)
    blocks += _environment(ctx)
    blocks += _method(ctx)
    headings = [b for b in blocks[toc_at:] if isinstance(b, Heading) and b.level in (2, 3)]
    blocks.insert(toc_at, Contents(headings))
    return blocks


def _demote(blocks: list[Block]) -> list[Block]:
    """Sub-headings of a scenario sit one level below the scenario's own heading."""
    return [Heading(4, b.text) if isinstance(b, Heading) else b for b in blocks]
