"""Facts read from the retry and fault records, tolerant of the field names older harness versions wrote.

The report reads records through these small dataclasses so that the answers, the details and the FAQ say the same
thing from the same numbers. Field names follow ``bench/faults.py`` (docs/RESULTS-SCHEMA.md); the aliases below
keep results files of earlier harness versions readable (``redelivery_s_min``, ``recovery_s``, ``seconds``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.report.metrics import value
from bench.report.numbers import duration_s
from bench.results import Record

#: The task states a fault meets, in the order the report lists them, with what each means.
CATEGORIES: dict[str, str] = {
    "running": "long task running in every worker process",
    "waiting": "short tasks waiting in the broker (or prefetched) behind them",
    "queued": "short tasks queued or prefetched behind them (older records' name for waiting)",
    "delayed": "tasks scheduled 5 s ahead with the library's delayed-execution API",
    "retrying": "failed once, retry (1 s) pending",
}
#: Probe infixes of each category (``bench.faults._mixed_workload``): the fallback when a record has no
#: ``<category>_tasks`` values (files of earlier harness versions).
_PROBE_MARKERS = {
    "running": "-long-",
    "waiting": "-waiting-",
    "queued": "-queued-",
    "delayed": "-delayed-",
    "retrying": "-retrying-",
}
#: Current name → names earlier harness versions used.
_ALIASES = {
    "redelivery_s": ("redelivery_s", "redelivery_s_min"),
    "reconnect_s": ("reconnect_s", "recovery_s"),
    "call_s": ("call_s", "seconds"),
}
FAULT_KIND_LABELS = {
    "sigkill": "worker SIGKILL",
    "sigterm": "worker SIGTERM",
    "redis_restart": "Redis restart",
    "redis_kill": "Redis SIGKILL",
    "redis_down_enqueue": "Redis down at enqueue",
}


def number(record: Record, name: str) -> float | None:
    """A numeric value under its current name or an older alias."""
    for candidate in _ALIASES.get(name, (name,)):
        found = value(record, candidate)
        if found is not None:
            return found
    return None


def flag(record: Record, name: str) -> bool | None:
    """A boolean value (``raised``, ``blocked``, ``visible``, ``needs_manual_restart``); None when absent."""
    raw = record.values.get(name)
    return raw if isinstance(raw, bool) else None


def fault_label(params: Mapping[str, Any]) -> str:
    """'worker SIGKILL', 'Redis restart (AOF)', 'Redis restart (no persistence)' …"""
    kind = str(params.get("kind", "?"))
    label = FAULT_KIND_LABELS.get(kind, kind)
    persistence = params.get("persistence")
    if persistence is not None:
        label += (
            " (AOF)" if persistence == "aof" else " (no persistence)" if persistence == "none" else f" ({persistence})"
        )
    return label


#: Outcomes of a task id after a fault (issue 8): in the order the report states them.
OUTCOMES = ("completed", "duplicated", "stranded", "gone")
LOST_TEXT = "not finished within the window (not classified)"


@dataclass(frozen=True)
class CategoryOutcome:
    """Tasks of one category and what became of them.

    Records of the classified schema have ``stranded`` and ``gone``; older ones only ``lost`` (not finished within the
    window, not classified into stranded or gone).
    """

    tasks: int | None  # None: the record does not say how many tasks the category had
    lost: int
    duplicated: int
    stranded: int = 0
    gone: int = 0


@dataclass(frozen=True)
class FaultOutcome:
    """One fault record that enqueued tasks (sigkill, sigterm, redis_restart …): the exact accounting and timings."""

    record: Record
    tasks: int
    completed: int
    duplicated: int
    lost: int  # older schema: not finished within the window (not classified)
    categories: dict[str, CategoryOutcome]
    redelivery_s: float | None  # SIGKILL/SIGTERM: signal → interrupted task started again
    rerun: int | None  # interrupted running tasks that ran again
    shutdown_s: float | None  # SIGTERM: signal → worker exited
    reconnect_s: float | None  # Redis restart: Redis back → next new task completed
    manual_restart: bool | None
    window_s: float | None
    classified: bool = False  # True: stranded/gone recorded (issue 8 schema); False: only "lost"
    stranded: int = 0
    gone: int = 0
    at_risk: int | None = None  # tasks not finished when the fault hit
    stranded_due_s: tuple[float, float] | None = None  # when the library would hand stranded tasks back
    stranded_rule: str | None = None
    premise: str | None = None  # what the fault assumed, as recorded
    eventual_window_s: float | None = None
    eventually_completed: int | None = None
    eventually_s_max: float | None = None

    @property
    def label(self) -> str:
        """The fault's display name."""
        return fault_label(self.record.params)

    @property
    def not_finished(self) -> int:
        """Tasks that did not complete in the window, whatever became of them (gone + stranded, or lost)."""
        return self.gone + self.stranded if self.classified else self.lost

    def _by_category(self, attribute: str) -> str:
        parts = []
        for name, c in self.categories.items():
            count = getattr(c, attribute)
            if count:
                parts.append(f"{name} {count}/{c.tasks}" if c.tasks is not None else f"{name} {count}")
        return ", ".join(parts)

    def lost_categories(self) -> str:
        """'queued 8/10, delayed 2/2' — categories with a task not finished (gone + stranded, or lost)."""
        parts = []
        for name, c in self.categories.items():
            count = c.gone + c.stranded if self.classified else c.lost
            if count:
                parts.append(f"{name} {count}/{c.tasks}" if c.tasks is not None else f"{name} {count}")
        return ", ".join(parts)

    def gone_categories(self) -> str:
        """Categories with a gone task."""
        return self._by_category("gone")

    def stranded_categories(self) -> str:
        """Categories with a stranded task."""
        return self._by_category("stranded")

    def duplicated_categories(self) -> str:
        """Categories with a duplicated task."""
        return self._by_category("duplicated")

    def risk_text(self) -> str:
        """'12 at risk' (tasks not finished when the fault hit), or 'of 16' for older records."""
        return f"{self.at_risk} at risk" if self.at_risk is not None else f"{self.tasks} enqueued"

    def due_text(self) -> str:
        """'due in ~3,600 s: visibility_timeout=3600 s' for stranded tasks; '' when unknown."""
        parts = []
        if self.stranded_due_s is not None:
            lo, hi = self.stranded_due_s
            parts.append(
                f"due in ~{_seconds(lo)}" if round(lo) == round(hi) else f"due in {_seconds(lo)}–{_seconds(hi)}"
            )
        if self.stranded_rule:
            parts.append(self.stranded_rule)
        return ": ".join(parts)

    def verdict(self) -> str:
        """'gone 2 of 12 at risk, 8 stranded (due in ~1 h: rule), 1 duplicated' (issue 8's wording)."""
        if not self.classified:
            text = f"{self.lost} of {self.tasks} {LOST_TEXT}"
            if self.lost:
                text += f" ({self.lost_categories()})"
        else:
            text = f"gone {self.gone} of {self.risk_text()}"
            if self.gone:
                text += f" ({self.gone_categories()})"
            text += f", {self.stranded} stranded"
            if self.stranded:
                details = [d for d in (self.stranded_categories(), self.due_text()) if d]
                text += f" ({'; '.join(details)})" if details else ""
        text += f", {self.duplicated} duplicated"
        if self.duplicated:
            text += f" ({self.duplicated_categories()})"
        if self.eventually_completed is not None and self.eventual_window_s:
            when = f", the last {_seconds(self.eventually_s_max)} after the fault" if self.eventually_s_max else ""
            text += (
                f"; watched {_seconds(self.eventual_window_s)}: {self.eventually_completed} of the stranded came "
                f"back and completed{when}"
            )
        return text

    def cell(self) -> str:
        """A compact table cell: outcome, which categories suffered, the key timing."""
        if self.not_finished == 0 and self.duplicated == 0:
            text = f"all {self.tasks} once"
        else:
            text = f"{self.tasks} tasks: " + self.short()
        timing = self.timing()
        return text + (f"; {timing}" if timing else "")

    def short(self) -> str:
        """'**10 gone**, 2 stranded, 1 duplicated' or, for older records, '**10 lost** (running 2/2, …)'."""
        parts = []
        if self.classified:
            if self.gone:
                parts.append(f"**{self.gone} gone** ({self.gone_categories()})")
            if self.stranded:
                parts.append(f"{self.stranded} stranded ({self.stranded_categories()})")
        elif self.lost:
            parts.append(f"**{self.lost} lost** ({self.lost_categories()})")
        if self.duplicated:
            parts.append(f"{self.duplicated} duplicated ({self.duplicated_categories()})")
        return ", ".join(parts) or "none lost"

    def timing(self) -> str:
        """The kind's key time: redelivery after a kill, shutdown after SIGTERM, reconnection after Redis."""
        kind = str(self.record.params.get("kind"))
        if kind in ("sigkill", "sigterm"):
            parts = []
            if kind == "sigterm" and self.shutdown_s:
                parts.append(f"worker stopped {self.shutdown_s:.1f} s after the signal")
            if self.rerun:
                running = self.categories.get("running")
                of = f"/{running.tasks}" if running is not None and running.tasks is not None else ""
                when = f", first {self.redelivery_s:.1f} s after the signal" if self.redelivery_s is not None else ""
                parts.append(f"{self.rerun}{of} interrupted tasks re-run{when}")
            return ", ".join(parts)
        if kind.startswith("redis_"):
            if self.manual_restart:
                return "workers needed a manual restart"
            if self.reconnect_s is not None:
                return f"new tasks done {self.reconnect_s:.1f} s after Redis returned"
        return ""


def premise_not_met(record: Record) -> str | None:
    """Why a fault record's premise did not hold (status ``premise_not_met`` or ``notes.premise.met`` false)."""
    premise = record.notes.get("premise")
    recorded_false = isinstance(premise, Mapping) and premise.get("met") is False
    if record.status != "premise_not_met" and not recorded_false:
        return None
    reason = record.error or ""
    if not reason and isinstance(premise, Mapping):
        reason = f"wanted {premise.get('wanted') or '?'}, saw {_seen_text(premise.get('seen'))}"
    return reason or "premise not met"


def _seen_text(seen: Any) -> str:
    """{'running': {'running': 1, 'finished': 1}} → 'running: 1 running, 1 finished'."""
    if not isinstance(seen, Mapping):
        return "?"
    parts = []
    for category, states in seen.items():
        if isinstance(states, Mapping):
            parts.append(f"{category}: " + ", ".join(f"{n} {state}" for state, n in states.items()))
    return "; ".join(parts) or "?"


def premise_text(record: Record) -> str | None:
    """What the fault assumed (``notes.premise.wanted``)."""
    premise = record.notes.get("premise")
    if isinstance(premise, Mapping) and premise.get("wanted"):
        return str(premise["wanted"])
    return None


def fault_outcome(record: Record) -> FaultOutcome | None:
    """The accounting of a fault record that enqueued tasks; None for failed records, unmet premises, down-enqueue."""
    if not record.ok or record.accounting is None or premise_not_met(record) is not None:
        return None
    acc = record.accounting
    classified = "gone" in acc or "stranded" in acc
    counts = {k: len(acc.get(k, [])) for k in ("completed", "duplicated", "lost", "stranded", "gone")}
    lost_ids, dup_ids = set(acc.get("lost", [])), set(acc.get("duplicated", []))
    stranded_ids, gone_ids = set(acc.get("stranded", [])), set(acc.get("gone", []))
    every = [p for k in ("completed", "duplicated", "lost", "stranded", "gone") for p in acc.get(k, [])]
    categories: dict[str, CategoryOutcome] = {}
    for name, marker in _PROBE_MARKERS.items():
        tasks = value(record, f"{name}_tasks")

        def count(outcome: str, name: str = name) -> int:
            return int(value(record, f"{name}_{outcome}") or 0)

        if tasks is not None:
            categories[name] = CategoryOutcome(
                int(tasks), count("lost"), count("duplicated"), count("stranded"), count("gone")
            )
            continue
        ids = [p for p in every if marker in p]
        if ids:
            categories[name] = CategoryOutcome(
                len(ids),
                sum(p in lost_ids for p in ids),
                sum(p in dup_ids for p in ids),
                sum(p in stranded_ids for p in ids),
                sum(p in gone_ids for p in ids),
            )
        elif value(record, f"{name}_lost"):
            categories[name] = CategoryOutcome(None, count("lost"), 0)
    rerun = value(record, "interrupted_rerun")
    due_min, due_max = value(record, "stranded_returns_in_s_min"), value(record, "stranded_returns_in_s_max")
    if due_min is None and due_max is None:
        due = _due_from_samples(record)
    else:
        due = (due_min if due_min is not None else due_max, due_max if due_max is not None else due_min)
    rule = record.notes.get("stranded_rule")
    at_risk = value(record, "at_risk")
    eventually = value(record, "eventually_completed")
    return FaultOutcome(
        record=record,
        tasks=sum(counts.values()),
        completed=counts["completed"],
        duplicated=counts["duplicated"],
        lost=counts["lost"],
        categories=categories,
        redelivery_s=number(record, "redelivery_s"),
        rerun=None if rerun is None else int(rerun),
        shutdown_s=number(record, "shutdown_s"),
        reconnect_s=number(record, "reconnect_s"),
        manual_restart=flag(record, "needs_manual_restart"),
        window_s=number(record, "window_s"),
        classified=classified,
        stranded=counts["stranded"],
        gone=counts["gone"],
        at_risk=None if at_risk is None else int(at_risk),
        stranded_due_s=due,  # type: ignore[arg-type]
        stranded_rule=str(rule) if rule else None,
        premise=premise_text(record),
        eventual_window_s=value(record, "eventual_window_s"),
        eventually_completed=None if eventually is None else int(eventually),
        eventually_s_max=value(record, "eventually_s_max"),
    )


def _due_from_samples(record: Record) -> tuple[float, float] | None:
    """(min, max) ``returns_in_s`` of the stranded samples, when the record has no summary values."""
    samples = record.samples.get("stranded")
    if not isinstance(samples, Mapping):
        return None
    due = [
        float(s["returns_in_s"])
        for s in samples.values()
        if isinstance(s, Mapping) and isinstance(s.get("returns_in_s"), int | float)
    ]
    return (min(due), max(due)) if due else None


@dataclass(frozen=True)
class DownEnqueue:
    """What the enqueue call and the shop view did while Redis was down (``redis_down_enqueue``)."""

    call_s: float | None
    raised: bool | None
    blocked: bool | None
    exception: str | None
    message: str | None
    view_s: float | None
    view_outcome: Any
    timeout_s: float | None

    def call_text(self) -> str:
        """'raised redis.exceptions.ConnectionError after 1.9 ms', 'still blocked after 15 s' …"""
        if self.blocked:
            return f"still blocked after {_seconds(self.timeout_s)} (the call never returned within the limit)"
        when = f" after {_seconds(self.call_s)}" if self.call_s is not None else ""
        if self.raised:
            return f"raised `{self.exception or 'an exception'}`{when}"
        return f"returned normally{when}, without an error (the task is not in Redis)"

    def view_text(self) -> str:
        """What the shop's view-side ``submit`` got."""
        when = f" after {_seconds(self.view_s)}" if self.view_s is not None else ""
        outcome = self.view_outcome
        if outcome is None:
            if self.view_s is not None and self.timeout_s and self.view_s >= 0.99 * self.timeout_s:
                return f"no answer either: the page still waited after {_seconds(self.view_s)}"
            return "not measured"
        if isinstance(outcome, str):
            if outcome.endswith("EnqueueFailed"):
                return f"a clean `EnqueueFailed`{when} (TaskRun marked failed, the page can say so)"
            return f"`{outcome}`{when}"
        if isinstance(outcome, Mapping):
            state = outcome.get("state")
            error = outcome.get("error")
            return f"no error{when}: the TaskRun stays '{state}'" + (f" ({error})" if error else "")
        return f"{outcome}{when}"


def down_enqueue(record: Record) -> DownEnqueue | None:
    """The redis_down_enqueue facts of a record; None for a failed record or another kind of fault."""
    if not record.ok or record.params.get("kind") != "redis_down_enqueue":
        return None
    notes = record.notes
    return DownEnqueue(
        call_s=number(record, "call_s"),
        raised=flag(record, "raised"),
        blocked=flag(record, "blocked"),
        exception=notes.get("exception"),
        message=notes.get("message"),
        view_s=number(record, "view_seconds"),
        view_outcome=notes.get("view_outcome"),
        timeout_s=number(record, "timeout_s"),
    )


@dataclass(frozen=True)
class RetryFacts:
    """One retries variant (``flaky_retry``/``flaky_default`` failing ``fail_times`` times or forever)."""

    task: str
    fail_times: int | None
    tasks: int
    attempts_min: int
    attempts_max: int
    expected: int | None  # None: library defaults promise nothing
    succeeded: int | None
    configured_s: float | None
    gaps_s: list[float]
    gap_error_max_s: float | None
    window_s: float | None
    timeline_s: list[float] = field(default_factory=list)  # attempt times of the first task, from its first attempt

    @property
    def forever(self) -> bool:
        """Whether the task fails on every attempt."""
        return self.fail_times is not None and self.fail_times < 0

    @property
    def as_expected(self) -> bool | None:
        """Every task made exactly the expected number of attempts (None when nothing is expected)."""
        if self.expected is None:
            return None
        return self.attempts_min == self.attempts_max == self.expected

    def attempts_text(self) -> str:
        """'3' or '1–2' attempts per task."""
        if self.attempts_min == self.attempts_max:
            return str(self.attempts_max)
        return f"{self.attempts_min}–{self.attempts_max}"

    def gap_text(self) -> str:
        """'gaps 1.00 s (1.00–1.00)' or ''."""
        if not self.gaps_s:
            return ""
        mean = sum(self.gaps_s) / len(self.gaps_s)
        return f"gaps {mean:.2f} s ({min(self.gaps_s):.2f}–{max(self.gaps_s):.2f})"

    def window_text(self) -> str:
        """'the 8 s window'."""
        return f"the {self.window_s:g} s window" if self.window_s else "the observation window"

    def summary(self) -> str:
        """One phrase: what the variant did, measured."""
        attempts = f"{self.attempts_text()} attempt{'s' if self.attempts_max != 1 else ''}"
        if self.expected is not None:
            verdict = "as configured" if self.as_expected else f"**expected {self.expected}**"
            text = f"{attempts} ({verdict})"
        elif self.attempts_max <= 1:
            text = f"1 attempt, no retry within {self.window_text()}"
        else:
            text = f"retried by default: {attempts} within {self.window_text()}"
        gap = self.gap_text()
        if gap:
            text += f", {gap}"
            if self.configured_s is not None:
                text += f" vs {self.configured_s:g} s configured"
        if not self.forever and self.succeeded is not None:
            text += f", {self.succeeded}/{self.tasks} succeeded"
        return text


def retry_facts(record: Record) -> RetryFacts:
    """Facts of a retries variant record (not the ``check`` records)."""
    raw = record.samples.get("attempt_times_ns")
    series = [sorted(float(t) for t in times) for times in raw.values()] if isinstance(raw, Mapping) else []
    gaps = [(b - a) / 1e9 for times in series for a, b in itertools.pairwise(times)]
    recorded_gaps = record.samples.get("gaps_s")
    if not gaps and isinstance(recorded_gaps, Sequence) and recorded_gaps:
        gaps = [float(g) for g in recorded_gaps]
    lengths = [len(s) for s in series]
    attempts_max = value(record, "attempts_max") or value(record, "attempts")
    attempts_min = value(record, "attempts_min")
    timeline = [(t - series[0][0]) / 1e9 for t in series[0]] if series and series[0] else []
    fail_times = record.params.get("fail_times")
    tasks = value(record, "tasks")
    succeeded = value(record, "succeeded")
    expected = value(record, "expected_attempts")
    if record.params.get("task") == "flaky_default":
        expected = None  # library defaults promise nothing, whatever an older harness wrote
    return RetryFacts(
        task=str(record.params.get("task", "?")),
        fail_times=fail_times if isinstance(fail_times, int) else None,
        tasks=int(tasks) if tasks is not None else len(series),
        attempts_min=int(attempts_min if attempts_min is not None else min(lengths, default=0)),
        attempts_max=int(attempts_max if attempts_max is not None else max(lengths, default=0)),
        expected=None if expected is None else int(expected),
        succeeded=None if succeeded is None else int(succeeded),
        configured_s=value(record, "configured_delay_s"),
        gaps_s=gaps,
        gap_error_max_s=value(record, "gap_error_max_s"),
        window_s=value(record, "window_s"),
        timeline_s=timeline,
    )


def is_check(record: Record) -> bool:
    """A retries record that is a check (exhausted_visibility, survives_…), not an attempts variant."""
    return "check" in record.params


def visibility_text(record: Record) -> str:
    """Where an exhausted task's failure is recorded, from an ``exhausted_visibility`` check."""
    visible = flag(record, "visible")
    where = record.notes.get("where")
    if visible is None:
        return f"not checked ({where})" if where else "not checked"
    if visible:
        return f"visible: {where}" if where else "visible"
    detail = record.notes.get("detail")
    error = detail.get("error") if isinstance(detail, Mapping) else None
    return "**not visible** to the application" + (f" ({where})" if where else "") + (f": {error}" if error else "")


def survival_text(record: Record) -> str:
    """A ``survives_*`` check: whether a pending retry ran after a worker/Redis restart."""
    what = str(record.params.get("check", "")).removeprefix("survives_").replace("_", " ")
    survived = flag(record, "survived")
    tasks, retried = value(record, "tasks"), value(record, "retried_after")
    counts = f" ({retried:.0f}/{tasks:.0f} retried)" if tasks is not None and retried is not None else ""
    if survived is None:
        return f"pending retry across a {what}: not measured"
    return f"pending retry {'survives' if survived else '**lost** across'} a {what}{counts}"


def _seconds(s: float | None) -> str:
    return "?" if s is None else duration_s(s)


def retry_variants(reps: Sequence[Record]) -> dict[tuple[str, int | None], RetryFacts]:
    """(task, fail_times) → facts of the first ok repetition of each retries variant."""
    found: dict[tuple[str, int | None], RetryFacts] = {}
    for r in sorted(reps, key=lambda r: r.repetition):
        if r.ok and not is_check(r):
            f = retry_facts(r)
            found.setdefault((f.task, f.fail_times), f)
    return found


def retry_variant(facts: dict[tuple[str, int | None], RetryFacts], task: str, *, forever: bool) -> RetryFacts | None:
    for (t, k), f in facts.items():
        if t == task and (k is not None and k < 0) == forever:
            return f
    return None
