"""Faults: the broker down at enqueue, the FAQ's "What happens when the broker goes down?", the details table and
the backend × fault grid."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.report import answers, charts, layers
from bench.report.context import (
    NOT_MEASURED,
    Context,
    failure_note,
    fault_sort_key,
    merge_profiles,
    profile_index,
)
from bench.report.facts import (
    BROKER_FAULTS,
    CATEGORIES,
    DOWN_ENQUEUE_KINDS,
    OUTCOME_WORDS,
    OUTCOMES,
    TRANSACTION_MODES,
    FaultOutcome,
    RuleNotes,
    down_enqueue,
    fault_broker,
    fault_label,
    fault_outcome,
    number,
    premise_not_met,
    premise_seen,
    transaction_facts,
)
from bench.report.figures import value
from bench.report.model import Answer, Block, Bullets, Chart, Heading, Paragraph, Table
from bench.report.numbers import seconds_text
from bench.results import Record

#: The section's heading in the report's Details.
TITLE = "Faults"
#: Publishing while the broker restarts: calls that raised, and what became of the ones that returned.
PUBLISH_FAULT = "publish_during_restart"
#: Every broker fault of the FAQ answer and the per-backend lines.
_BROKER_KINDS = (*DOWN_ENQUEUE_KINDS, *BROKER_FAULTS, PUBLISH_FAULT)


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


def _down_sentence(ctx: Context, reps: Sequence[Record], notes: RuleNotes) -> str:
    """The broker down at enqueue time, its restart outcomes and publishing through a restart, for one backend and
    profile."""
    parts = []
    for r in sorted(reps, key=lambda r: (r.params.get("kind") not in DOWN_ENQUEUE_KINDS, fault_sort_key(r))):
        kind = r.params.get("kind")
        if kind in DOWN_ENQUEUE_KINDS:
            if not r.ok:
                parts.append(f"enqueue while down: run failed ({r.error})")
                continue
            d = down_enqueue(r)
            assert d is not None
            parts.append(f"enqueue while {d.broker} is down {d.call_text()}; the shop view got {d.view_text()}")
        elif kind == PUBLISH_FAULT:
            parts.append(publish_text(r))
        elif kind in BROKER_FAULTS:
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
                text += (
                    f"workers resumed on their own, a new task done {o.reconnect_s:.1f} s after "
                    f"{fault_broker(kind)} returned"
                )
            else:
                text += "recovery not measured"
            text += f"; {o.verdict(notes)}"
            parts.append(text)
    return "; ".join(parts)


def publish_text(record: Record) -> str:
    """'publishing while RabbitMQ restarts: 140 calls, 12 raised; of the 128 that returned, 128 completed once,
    0 gone (lost silently)'."""
    label = fault_label(record.params)
    if not record.ok:
        return f"{label}: run failed ({record.error})"
    calls, raised, accepted = (int(value(record, k) or 0) for k in ("calls", "raised", "accepted"))
    outage = number(record, "outage_s")
    text = f"{label} ({outage:.1f} s down): " if outage else f"{label}: "
    text += f"{calls} enqueue calls, {raised} raised; of the {accepted} that returned, "
    counts = [f"{int(value(record, o) or 0)} {OUTCOME_WORDS[o]}" for o in OUTCOMES if value(record, o)]
    gone = int(value(record, "gone") or 0)
    text += ", ".join(counts) or "none finished"
    if gone:
        text += f" (**{gone} lost silently**: the call returned, the broker kept nothing)"
    return text


def redis_down_lines(ctx: Context, notes: RuleNotes) -> list[str]:
    """One line per backend (or per backend and profile when the profiles differ)."""
    records = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") in _BROKER_KINDS]
    lines = []
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            reps = [r for r in records if r.backend == backend and r.profile == profile]
            if reps:
                texts[profile] = _down_sentence(ctx, reps, notes)
        lines += merge_profiles(ctx, texts, backend)
    return lines


def answer_redis_down(ctx: Context) -> Answer:
    records = [
        r
        for r in ctx.results.select(scenario="faults")
        # A fault session that failed as a whole has no kind: it did not measure Redis either.
        if r.params.get("kind", "redis_down_enqueue" if not r.ok else None) in _BROKER_KINDS
    ]
    brokers = sorted({fault_broker(r.params.get("kind")) for r in records}, key=lambda b: b != "Redis")
    question = f"What happens when {' or '.join(brokers) or 'Redis'} goes down?"
    lines = []
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        mine = [r for r in records if r.backend == backend]
        parts = _down_enqueue_summary([d for r in mine if (d := down_enqueue(r)) is not None])
        outcomes = [o for r in sorted(mine, key=fault_sort_key) if (o := fault_outcome(r)) is not None]
        if outcomes:
            reconnect = [o.reconnect_s for o in outcomes if o.reconnect_s is not None]
            if any(o.manual_restart for o in outcomes):
                parts.append("after a restart the workers needed a **manual restart**")
            elif reconnect:
                broker = " or ".join(sorted({fault_broker(o.kind) for o in outcomes if o.reconnect_s is not None}))
                parts.append(
                    f"after a restart the workers resumed on their own (new tasks done {_range(reconnect, 's')} "
                    f"after {broker} returned)"
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
        "enqueue into `EnqueueFailed`. Lost after a restart: tasks that were in the broker (queued, delayed, "
        "retrying) or running when it stopped. The FAQ below tells the whole story per backend.",
    )


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    notes = answers.fault_rule_notes(ctx)
    rows, down_rows, premise_rows = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, profile_index(r.profile), *fault_sort_key(r))):
        why = premise_not_met(r)
        if why is not None:
            premise_rows.append([ctx.label(r.backend), r.profile, fault_label(r.params), why])
            continue
        if not r.ok or r.params.get("kind") == "transaction":
            continue
        if r.params.get("kind") in DOWN_ENQUEUE_KINDS:
            d = down_enqueue(r)
            assert d is not None
            down_rows.append([ctx.label(r.backend), r.profile, d.call_text(), d.message or "–", d.view_text()])
            continue
        o = fault_outcome(r)
        if o is None:
            rows.append([ctx.label(r.backend), r.profile, fault_label(r.params), *["–"] * (len(OUTCOMES) + 4)])
            continue
        timings = o.timing()
        before = value(r, "finished_before_restart")
        if before is not None:
            timings += f"; {before:.0f} finished before the workers were restarted"
        if o.kind == "long_delay":
            timings += f"; most runs of one task {o.runs_max}" if o.runs_max is not None else ""
            timings += f"; {o.started_early} started early" if o.started_early else ""
        if o.classified:
            counts = [_count_cell(o, outcome, notes) for outcome in OUTCOMES]
        else:  # older results files: only completed, duplicated and 'not finished' (said in the gone column)
            counts = [
                str(o.completed),
                _count_cell(o, "duplicated", notes),
                *["–"] * (len(OUTCOMES) - 3),
                f"{o.lost} not finished, not classified" + (f" ({o.lost_categories()})" if o.lost else ""),
            ]
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                o.label,
                str(o.tasks),
                "–" if o.at_risk is None else str(o.at_risk),
                *counts,
                o.eventually_text() or "–",
                premise_seen(r) or "–",
                timings.strip("; ") or "–",
            ]
        )
    caption = (
        "Every task id enqueued before the fault ends in exactly one of "
        + " / ".join(OUTCOME_WORDS[o] for o in OUTCOMES)
        + " (stranded: held by the library, handed back later; gone: held nowhere); an outcome's categories in "
        "parentheses, counted among the tasks at risk; older results files only have 'not finished within the "
        "window (not classified)'. Categories: "
        + "; ".join(f"{k} = {v}" for k, v in CATEGORIES.items())
        + ". State at the fault: what the harness saw just before firing (premise proven or not). "
        + notes.text()
    )
    eventual = any(row[len(OUTCOMES) + 5] not in ("–", "") for row in rows)
    if not eventual:  # the full preset's longer look at stranded tasks was not run: no empty column
        rows = [row[: len(OUTCOMES) + 5] + row[len(OUTCOMES) + 6 :] for row in rows]
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "fault",
                "tasks",
                "at risk",
                *[OUTCOME_WORDS[o].split(" (")[0] for o in OUTCOMES],
                *(["afterwards (stranded tasks watched longer)"] if eventual else []),
                "state at the fault",
                "timings",
            ],
            rows,
            caption.strip(),
        )
    ]
    if premise_rows:
        blocks.append(
            Table(
                ["backend", "profile", "fault", "premise not met: problems and what was seen"],
                premise_rows,
                "Faults whose premise did not hold at the fault instant: recorded, shown, never ranked.",
            )
        )
    blocks += _transaction_table(ctx, records)
    blocks += layers.details(ctx)
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
    return blocks + failure_note(ctx, records)


def _count_cell(o: FaultOutcome, outcome: str, notes: RuleNotes) -> str:
    """'8 (running 2/2, waiting 2/12; due in ~43 s, heartbeat timeout [a])' — one outcome's count and detail."""
    count = o.count(outcome)
    if not count or outcome == "completed":
        return str(count)
    details = [o.by_category(outcome)]
    if outcome == "stranded":
        details.append(o.due_text(notes))
    details = [d for d in details if d]
    return f"{count} ({'; '.join(details)})" if details else str(count)


def _transaction_table(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """One row per backend, profile and transaction mode."""
    facts = [f for r in records if (f := transaction_facts(r)) is not None and not ctx.is_floor(r.backend)]
    if not facts:
        return []
    order = list(TRANSACTION_MODES)
    facts.sort(
        key=lambda f: (
            f.record.backend,
            profile_index(f.record.profile),
            order.index(f.mode) if f.mode in order else len(order),
        )
    )

    def yes(flag: bool | None) -> str:
        return "–" if flag is None else "yes" if flag else "no"

    rows = [
        [
            ctx.label(f.record.backend),
            f.record.profile,
            f.mode_text(),
            yes(f.committed),
            yes(f.enqueued),
            str(f.attempts),
            yes(f.started_before_end),
            str(f.failed_attempts),
            yes(f.succeeded),
            seconds_text(f.first_start_s) if f.first_start_s is not None else "–",
        ]
        for f in facts
    ]
    return [
        Table(
            [
                "backend",
                "profile",
                "enqueue inside a transaction",
                "committed",
                "enqueued",
                "attempts",
                "started before the transaction ended",
                "attempts that raised",
                "succeeded",
                "first start after the enqueue",
            ],
            rows,
            answers.transaction_caveat(ctx),
        )
    ]


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
    params = {(r.params.get("kind"), r.params.get("persistence")): r.params for r in records}
    columns = [fault_label(params.get((k, p)) or {"kind": k, "persistence": p}) for k, p in kinds]
    classified = any(o.classified for r in records if (o := fault_outcome(r)) is not None)
    fig = charts.fault_grid(columns, [ctx.label(b) for b in backends], panels, ctx.caption, classified=classified)
    return Chart("fault-outcomes", "Fault outcomes per backend and fault", fig)


def worker_fault_lines(ctx: Context, notes: RuleNotes) -> list[str]:
    """Per backend: SIGKILL/SIGTERM outcomes in words."""
    records = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") in ("sigkill", "sigterm")]
    lines = []
    for backend in ctx.backends(records):
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            parts = []
            for r in sorted((r for r in records if r.backend == backend and r.profile == profile), key=fault_sort_key):
                o = fault_outcome(r)
                if o is None:
                    why = premise_not_met(r)
                    state = f"premise not met, not ranked ({why})" if why else f"run failed ({r.error})"
                    parts.append(f"{fault_label(r.params)}: {state}")
                    continue
                text = f"{o.label}: {o.verdict(notes)}"
                if o.timing():
                    text += f", {o.timing()}"
                parts.append(text)
            if parts:
                texts[profile] = "; ".join(parts)
        lines += merge_profiles(ctx, texts, backend)
    return lines


def faq(ctx: Context) -> list[Block]:
    """The FAQ's "What happens if Redis goes down?", answered per backend (moved here from ``content.py``)."""
    blocks: list[Block] = [Heading(3, "What happens if Redis goes down?")]
    blocks.append(
        Paragraph(
            "The tutorial's answer: “Your tasks won't be sent or picked up. But once Redis comes back, things "
            "should resume.” Measured, per backend:"
        )
    )
    notes = answers.fault_rule_notes(ctx)
    lines = redis_down_lines(ctx, notes)
    blocks.append(Bullets(lines) if lines else Paragraph(f"Redis fault scenarios: {NOT_MEASURED}."))
    worker = worker_fault_lines(ctx, notes)
    if worker:
        blocks.append(Paragraph("And when a worker dies instead (the other half of “things should resume”):"))
        blocks.append(Bullets(worker))
    if notes.lines():
        blocks.append(Paragraph("When stranded tasks come back: " + " ".join(notes.lines())))
    return blocks
