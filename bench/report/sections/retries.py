"""Retries: the answer, the FAQ's "Can I retry failed tasks?" and the details (attempts, gaps, where exhausted
failures are recorded)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import charts
from bench.report.context import (
    NOT_MEASURED,
    Context,
    failure_note,
    merge_profiles,
    params_text,
    profile_index,
    retry_sort_key,
)
from bench.report.facts import (
    RetryFacts,
    is_check,
    retry_facts,
    retry_variant,
    retry_variants,
    survival_text,
    visibility_text,
)
from bench.report.model import Answer, Block, Bullets, Chart, Heading, Paragraph, Table
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Retries"


def sentence(ctx: Context, reps: Sequence[Record]) -> str:
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
    parts += [f"{params_text(r.params)}: run failed ({r.error})" for r in failed]
    return "; ".join(parts) or NOT_MEASURED


def answer(ctx: Context) -> list[Block]:
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
        lines += merge_profiles(ctx, texts, backend)
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
    """The short form of :func:`sentence`, for the answers."""
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
    parts += [f"{params_text(r.params)} failed ({r.error})" for r in reps if not r.ok]
    return "; ".join(parts) or NOT_MEASURED


def _retry_cell(f: RetryFacts | None) -> str:
    if f is None:
        return "–"
    text = f"{f.attempts_text()} attempt{'s' if f.attempts_max != 1 else ''}"
    if f.expected is not None and not f.as_expected:
        text = f"**{text}**"
    gap = f.gap_text()
    return text + (f", {gap}" if gap else "")


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, checks, timeline = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, profile_index(r.profile), retry_sort_key(r), r.repetition)):
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
    return blocks + failure_note(ctx, records)


def faq(ctx: Context) -> list[Block]:
    """The FAQ's "Can I retry failed tasks?", answered per backend (moved here from ``content.py``)."""
    blocks: list[Block] = [Heading(3, "Can I retry failed tasks?")]
    blocks.append(Paragraph("The tutorial's answer: “Yes!”. Measured, per backend:"))
    items = []
    records = ctx.results.select(scenario="retries")
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {
            profile: sentence(ctx, [r for r in records if r.backend == backend and r.profile == profile])
            for profile in ctx.scenario_profiles("retries")
            if any(r.backend == backend and r.profile == profile for r in records)
        }
        items += merge_profiles(ctx, texts, backend)
    blocks.append(Bullets(items) if items else Paragraph(f"Retries: {NOT_MEASURED}."))
    return blocks
