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
from bench.results import Record

#: The task states a fault meets, in the order the report lists them, with what each means.
CATEGORIES: dict[str, str] = {
    "running": "long task running in every worker process",
    "queued": "short tasks queued or prefetched behind them",
    "delayed": "tasks scheduled 5 s ahead with the library's delayed-execution API",
    "retrying": "failed once, retry (1 s) pending",
}
#: Probe infixes of each category (``bench.faults._mixed_workload``): the fallback when a record has no
#: ``<category>_tasks`` values (files of earlier harness versions).
_PROBE_MARKERS = {"running": "-long-", "queued": "-queued-", "delayed": "-delayed-", "retrying": "-retrying-"}
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


@dataclass(frozen=True)
class CategoryOutcome:
    """Tasks of one category and how many of them were lost or duplicated."""

    tasks: int | None  # None: the record does not say how many tasks the category had
    lost: int
    duplicated: int


@dataclass(frozen=True)
class FaultOutcome:
    """One fault record that enqueued tasks (sigkill, sigterm, redis_restart): the exact accounting and timings."""

    record: Record
    tasks: int
    completed: int
    duplicated: int
    lost: int
    categories: dict[str, CategoryOutcome]
    redelivery_s: float | None  # SIGKILL/SIGTERM: signal → interrupted task started again
    rerun: int | None  # interrupted running tasks that ran again
    shutdown_s: float | None  # SIGTERM: signal → worker exited
    reconnect_s: float | None  # Redis restart: Redis back → next new task completed
    manual_restart: bool | None
    window_s: float | None

    @property
    def label(self) -> str:
        """The fault's display name."""
        return fault_label(self.record.params)

    def lost_categories(self) -> str:
        """'queued 8/10, delayed 2/2' — categories with a lost task; '' when nothing was lost."""
        parts = []
        for name, c in self.categories.items():
            if c.lost:
                parts.append(f"{name} {c.lost}/{c.tasks}" if c.tasks is not None else f"{name} {c.lost}")
        return ", ".join(parts)

    def duplicated_categories(self) -> str:
        """Like :meth:`lost_categories`, for duplicates."""
        parts = []
        for name, c in self.categories.items():
            if c.duplicated:
                parts.append(f"{name} {c.duplicated}/{c.tasks}" if c.tasks is not None else f"{name} {c.duplicated}")
        return ", ".join(parts)

    def cell(self) -> str:
        """A compact table cell: outcome, which categories suffered, the key timing."""
        if self.lost == 0 and self.duplicated == 0:
            text = f"all {self.tasks} once"
        else:
            parts = []
            if self.lost:
                parts.append(f"**{self.lost} lost** ({self.lost_categories()})")
            if self.duplicated:
                parts.append(f"{self.duplicated} duplicated ({self.duplicated_categories()})")
            text = f"{self.tasks} tasks: " + ", ".join(parts)
        timing = self.timing()
        return text + (f"; {timing}" if timing else "")

    def timing(self) -> str:
        """The kind's key time: redelivery after a kill, shutdown after SIGTERM, reconnection after Redis."""
        kind = self.record.params.get("kind")
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
        if kind == "redis_restart":
            if self.manual_restart:
                return "workers needed a manual restart"
            if self.reconnect_s is not None:
                return f"new tasks done {self.reconnect_s:.1f} s after Redis returned"
        return ""


def fault_outcome(record: Record) -> FaultOutcome | None:
    """The accounting of a fault record that enqueued tasks; None for failed records and redis_down_enqueue."""
    if not record.ok or record.accounting is None:
        return None
    acc = record.accounting
    completed, duplicated, lost = (len(acc.get(k, [])) for k in ("completed", "duplicated", "lost"))
    lost_ids, dup_ids = set(acc.get("lost", [])), set(acc.get("duplicated", []))
    every = [p for k in ("completed", "duplicated", "lost") for p in acc.get(k, [])]
    categories: dict[str, CategoryOutcome] = {}
    for name, marker in _PROBE_MARKERS.items():
        tasks = value(record, f"{name}_tasks")
        if tasks is not None:
            categories[name] = CategoryOutcome(
                int(tasks), int(value(record, f"{name}_lost") or 0), int(value(record, f"{name}_duplicated") or 0)
            )
            continue
        ids = [p for p in every if marker in p]
        if ids:
            categories[name] = CategoryOutcome(
                len(ids), sum(p in lost_ids for p in ids), sum(p in dup_ids for p in ids)
            )
        elif value(record, f"{name}_lost"):
            categories[name] = CategoryOutcome(None, int(value(record, f"{name}_lost") or 0), 0)
    rerun = value(record, "interrupted_rerun")
    return FaultOutcome(
        record=record,
        tasks=completed + duplicated + lost,
        completed=completed,
        duplicated=duplicated,
        lost=lost,
        categories=categories,
        redelivery_s=number(record, "redelivery_s"),
        rerun=None if rerun is None else int(rerun),
        shutdown_s=number(record, "shutdown_s"),
        reconnect_s=number(record, "reconnect_s"),
        manual_restart=flag(record, "needs_manual_restart"),
        window_s=number(record, "window_s"),
    )


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
    if s is None:
        return "?"
    if s < 0.01:
        return f"{s * 1e3:.1f} ms"
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    return f"{s:.3g} s"
