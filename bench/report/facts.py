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

from bench.report.figures import value
from bench.report.numbers import due_text, duration_s, seconds_text
from bench.results import FAULT_OUTCOMES, Record

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
#: Every fault kind's human name, in one place (``fault_label`` adds the persistence or the delay).
FAULT_KIND_LABELS = {
    "sigkill": "worker SIGKILL",
    "sigterm": "worker SIGTERM",
    "redis_restart": "Redis restart",
    "redis_crash": "Redis crash (SIGKILL, AOF everysec)",
    "redis_kill": "Redis SIGKILL",
    "redis_down_enqueue": "Redis down at enqueue",
    "rabbitmq_restart": "RabbitMQ restart",
    "rabbitmq_crash": "RabbitMQ crash (SIGKILL of the node)",
    "rabbitmq_down_enqueue": "RabbitMQ down at enqueue",
    # The profile decides whether the library waits for publisher confirms (safe does: its settings table says so).
    "publish_during_restart": "publishing while RabbitMQ restarts",
    "long_task": "a {run_s} task, longer than RabbitMQ's consumer_timeout (shortened to 10 s)",
    # The timeouts themselves are in each profile's recorded settings (the settings table), not assumed here.
    "long_delay": "scheduled {delay} ahead (beyond the safe profile's shortened redelivery timeouts)",
    "transaction": "Enqueue inside a transaction",
}
#: The scorecard's column titles of the faults (short; the Answers use :func:`fault_label`).
FAULT_SHORT_LABELS = {
    ("sigkill", None): "SIGKILL",
    ("sigterm", None): "SIGTERM",
    ("redis_restart", "none"): "Redis restart",
    ("redis_restart", "aof"): "Redis restart, AOF",
    ("redis_crash", "aof"): "Redis crash, AOF",
    ("redis_kill", "none"): "Redis crash",
    ("redis_kill", "aof"): "Redis crash, AOF",
    ("rabbitmq_restart", None): "RabbitMQ restart",
    ("rabbitmq_crash", None): "RabbitMQ crash",
    ("publish_during_restart", None): "Publish during restart",
    ("long_task", None): "Task past consumer_timeout",
    ("long_delay", None): "Scheduled {delay} ahead",
    ("transaction", None): "In a transaction",
}
#: The faults that stop the broker with tasks at risk, and the enqueue-while-down faults, per broker.
BROKER_FAULTS = ("redis_restart", "redis_crash", "redis_kill", "rabbitmq_restart", "rabbitmq_crash")
DOWN_ENQUEUE_KINDS = ("redis_down_enqueue", "rabbitmq_down_enqueue")


def fault_broker(kind: object) -> str:
    """The broker a broker fault stops: 'RabbitMQ' for the RabbitMQ kinds, else 'Redis'."""
    return "RabbitMQ" if str(kind).startswith(("rabbitmq_", "publish_")) else "Redis"


#: Each transaction mode's short name in the Answers.
TRANSACTION_MODE_NAMES = {
    "commit_late": "late commit",
    "rollback": "rollback",
    "on_commit_late": "on_commit, late commit",
    "on_commit_rollback": "on_commit, rollback",
}
#: How each transaction mode is said (``bench/faults/transactions.py``), in reading order.
TRANSACTION_MODES = {
    "commit_late": "enqueued inside the transaction, commit 1 s later",
    "rollback": "enqueued inside the transaction, rolled back",
    "on_commit_late": "enqueued with on_commit, commit 1 s later",
    "on_commit_rollback": "enqueued with on_commit, rolled back",
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


def _delay(params: Mapping[str, Any]) -> str:
    delay = params.get("delay_s")
    return seconds_text(float(delay)) if isinstance(delay, int | float) else "far"


def fault_label(params: Mapping[str, Any]) -> str:
    """'worker SIGKILL', 'Redis restart (AOF)', 'Redis restart (no persistence)', 'scheduled 15 s ahead (…)' …"""
    kind = str(params.get("kind", "?"))
    label = FAULT_KIND_LABELS.get(kind, kind).replace("{delay}", _delay(params))
    label = label.replace("{run_s}", f"{params.get('run_s', '?'):g} s" if "run_s" in params else "long")
    persistence = params.get("persistence")
    if persistence is not None and "AOF" not in label:
        label += (
            " (AOF)" if persistence == "aof" else " (no persistence)" if persistence == "none" else f" ({persistence})"
        )
    return label


def fault_short_label(kind: str, persistence: str | None, params: Mapping[str, Any] | None = None) -> str:
    """The scorecard's column title of a fault."""
    short = FAULT_SHORT_LABELS.get((kind, persistence))
    if short is None:
        return fault_label({"kind": kind, "persistence": persistence, **(params or {})})
    return short.replace("{delay}", _delay(params or {}))


#: Outcomes of a task id after a fault, as the harness classifies them, in the order it states them.
OUTCOMES = FAULT_OUTCOMES
#: How each outcome is said after its count ('2 failed (recorded by the library)').
OUTCOME_WORDS = {
    "completed": "completed once",
    "duplicated": "duplicated",
    "stranded": "stranded",
    "failed": "failed (recorded by the library)",
    "gone": "gone",
}
LOST_TEXT = "not finished within the window (not classified)"


@dataclass(frozen=True)
class CategoryOutcome:
    """Tasks of one category and what became of them.

    Records of the classified schema have ``stranded``, ``failed`` and ``gone``; older ones only ``lost`` (not finished
    within the window, not classified into stranded or gone).
    """

    tasks: int | None  # None: the record does not say how many tasks the category had
    lost: int
    duplicated: int
    stranded: int = 0
    gone: int = 0
    failed: int = 0


def _clauses(rule: str) -> list[str]:
    """A rule's top-level clauses: split at '; ' outside parentheses ('…(a; b); and its eta' → two clauses)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(rule):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0 and rule[i + 1 : i + 2] == " ":
            parts.append(rule[start:i])
            start = i + 2
    parts.append(rule[start:])
    return [p.strip() for p in parts if p.strip()]


#: A rule clause up to this length is said in full where it applies; a longer one gets a short name and a footnote.
_INLINE_CLAUSE = 32


def _short_name(clause: str) -> str:
    """'heartbeat_timeout=60000 ms after …' → 'heartbeat timeout'; 'Schedule.next_run, then …' → 'Schedule.next_run'."""
    head = clause.split("=", 1)[0].split(",", 1)[0].split(" ", 1)[0]
    return head if "." in head else head.replace("_", " ")


class RuleNotes:
    """Footnotes for the settings that decide when stranded tasks come back: each rule's full text said once.

    One register per block (an Answer, the FAQ, a table): letters follow that block's reading order, and the block
    lists the notes it used (:meth:`lines`).
    """

    def __init__(self) -> None:
        self._letters: dict[str, str] = {}  # clause → letter, given in the order the block uses them

    def name(self, rules: Sequence[str]) -> str:
        """'heartbeat timeout [a] + its eta' for the rules of one record; every clause once."""
        names = []
        for clause in dict.fromkeys(c for rule in rules for c in _clauses(rule)):
            if len(clause) <= _INLINE_CLAUSE:
                names.append(clause.removeprefix("and "))
                continue
            letter = self._letters.setdefault(clause, _letter(len(self._letters)))
            names.append(f"{_short_name(clause)} [{letter}]")
        return " + ".join(dict.fromkeys(names))

    def lines(self) -> list[str]:
        """'[a] heartbeat_timeout=60000 ms …' for each rule used, in letter order."""
        return [f"[{letter}] {clause}" for clause, letter in self._letters.items()]

    def text(self) -> str:
        """The used notes as one sentence (for a table caption)."""
        return " ".join(self.lines())


def _letter(i: int) -> str:
    """0 → 'a', 25 → 'z', 26 → 'aa'."""
    return chr(ord("a") + i) if i < 26 else _letter(i // 26 - 1) + chr(ord("a") + i % 26)


def stranded_rules(record: Record) -> list[str]:
    """The distinct rules of a record's stranded tasks (from ``samples.stranded``; else the joined note)."""
    samples = record.samples.get("stranded")
    rules = []
    if isinstance(samples, Mapping):
        rules = [str(s["rule"]) for s in samples.values() if isinstance(s, Mapping) and s.get("rule")]
    if not rules and record.notes.get("stranded_rule"):
        rules = [str(record.notes["stranded_rule"])]
    return list(dict.fromkeys(rules))


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
    classified: bool = False  # True: stranded/gone recorded (newer files); False: only "lost"
    stranded: int = 0
    gone: int = 0
    failed: int = 0  # recorded as failed by the library itself (its admin or result store shows it)
    at_risk: int | None = None  # tasks not finished when the fault hit
    stranded_due_s: tuple[float, float] | None = None  # when the library would hand stranded tasks back
    stranded_rules: tuple[str, ...] = ()
    premise: str | None = None  # what the fault assumed, as recorded
    eventual_window_s: float | None = None
    eventually_watched: int | None = None
    eventually_completed: int | None = None
    eventually_s_max: float | None = None
    runs_max: int | None = None  # long_delay: most runs of one task
    started_early: int | None = None  # long_delay: tasks started before their time

    @property
    def label(self) -> str:
        """The fault's display name."""
        return fault_label(self.record.params)

    @property
    def kind(self) -> str:
        return str(self.record.params.get("kind"))

    @property
    def stranded_rule(self) -> str | None:
        """Every rule's full text, each once."""
        return "; ".join(dict.fromkeys(c for r in self.stranded_rules for c in _clauses(r))) or None

    @property
    def not_finished(self) -> int:
        """Tasks that did not complete in the window, whatever became of them (gone + stranded + failed, or lost)."""
        return self.gone + self.stranded + self.failed if self.classified else self.lost

    def count(self, outcome: str) -> int:
        """The number of tasks with one of :data:`OUTCOMES`."""
        return int(getattr(self, outcome))

    def by_category(self, attribute: str) -> str:
        parts = []
        for name, c in self.categories.items():
            count = getattr(c, attribute)
            if count:
                parts.append(f"{name} {count}/{c.tasks}" if c.tasks is not None else f"{name} {count}")
        return ", ".join(parts)

    def lost_categories(self) -> str:
        """'queued 8/10, delayed 2/2' — categories with a task not finished (gone + stranded + failed, or lost)."""
        parts = []
        for name, c in self.categories.items():
            count = c.gone + c.stranded + c.failed if self.classified else c.lost
            if count:
                parts.append(f"{name} {count}/{c.tasks}" if c.tasks is not None else f"{name} {count}")
        return ", ".join(parts)

    def gone_categories(self) -> str:
        """Categories with a gone task."""
        return self.by_category("gone")

    def stranded_categories(self) -> str:
        """Categories with a stranded task."""
        return self.by_category("stranded")

    def failed_categories(self) -> str:
        """Categories with a task the library recorded as failed."""
        return self.by_category("failed")

    def duplicated_categories(self) -> str:
        """Categories with a duplicated task."""
        return self.by_category("duplicated")

    def risk_text(self) -> str:
        """'12 at risk' (tasks not finished when the fault hit), or 'of 16' for older records."""
        return f"{self.at_risk} at risk" if self.at_risk is not None else f"{self.tasks} enqueued"

    def due_text(self, notes: RuleNotes | None = None) -> str:
        """'due in ~43 s, heartbeat timeout [a]' for stranded tasks (the rule in full without ``notes``); '' unknown."""
        parts = []
        if self.stranded_due_s is not None:
            parts.append(due_text(*self.stranded_due_s))
        if self.stranded_rules:
            parts.append(notes.name(self.stranded_rules) if notes is not None else self.stranded_rule or "")
        return ", ".join(p for p in parts if p)

    def eventually_text(self) -> str:
        """'watched 120 s more: 8 came back within 61 s of the fault' (full preset, library defaults); '' otherwise."""
        if self.eventually_completed is None or not self.eventual_window_s:
            return ""
        watched = self.eventually_watched if self.eventually_watched is not None else self.stranded
        came = (
            f"{self.eventually_completed} came back"
            if self.eventually_completed == watched
            else f"{self.eventually_completed} of the {watched} watched came back"
        )
        if self.eventually_completed and self.eventually_s_max is not None:
            came += f" within {seconds_text(self.eventually_s_max)} of the fault"
        return f"watched {seconds_text(self.eventual_window_s)} more: {came}"

    def verdict(self, notes: RuleNotes | None = None, *, short: bool = False) -> str:
        """'gone 2 of 12 at risk, 8 stranded (due in ~43 s, heartbeat timeout [a]), 2 failed (recorded by the library),
        0 duplicated' (the classification's wording).

        ``short`` (the Answers): without the categories and without the outcomes no task had (gone always said).
        ``notes``: the rule's short name with a footnote marker instead of its full text.
        """
        if self.kind == "long_delay":
            return self._long_delay_verdict(notes, short=short)
        if not self.classified:
            text = f"{self.lost} of {self.tasks} {LOST_TEXT}"
            if self.lost:
                text += f" ({self.lost_categories()})"
            text += f", {self.duplicated} duplicated"
            if self.duplicated:
                text += f" ({self.duplicated_categories()})"
            return text
        parts = [self._outcome_text("gone", f"gone {self.gone} of {self.risk_text()}", short)]
        for outcome in ("stranded", "failed", "duplicated"):
            if short and not self.count(outcome):
                continue
            parts.append(self._outcome_text(outcome, f"{self.count(outcome)} {OUTCOME_WORDS[outcome]}", short, notes))
        text = ", ".join(parts)
        eventually = self.eventually_text()
        return text + (f"; {eventually}" if eventually else "")

    def _outcome_text(self, outcome: str, head: str, short: bool, notes: RuleNotes | None = None) -> str:
        """One outcome's count with its categories (unless ``short``) and, for stranded tasks, when they come back."""
        if not self.count(outcome):
            return head
        details = [] if short else [self.by_category(outcome)]
        if outcome == "stranded":
            details.append(self.due_text(notes))
        details = [d for d in details if d]
        if not details:
            return head
        if head.endswith(")"):  # 'failed (recorded by the library)': add inside the same parentheses
            return f"{head[:-1]}: {'; '.join(details)})"
        return f"{head} ({'; '.join(details)})"

    def _long_delay_verdict(self, notes: RuleNotes | None, *, short: bool) -> str:
        """'2 of 2 ran once, 0 ran more than once' (+ started early, stranded, failed, gone when any)."""
        parts = [f"{self.completed} of {self.tasks} ran once"]
        if self.duplicated:
            runs = f" (up to {self.runs_max} runs)" if self.runs_max else ""
            parts.append(f"**{self.duplicated} ran more than once**{runs}")
        elif not short:
            parts.append("0 ran more than once")
        if self.started_early:
            parts.append(f"{self.started_early} started before their time")
        for outcome in ("stranded", "failed", "gone"):
            if self.count(outcome) or not short:
                parts.append(
                    self._outcome_text(outcome, f"{self.count(outcome)} {OUTCOME_WORDS[outcome]}", True, notes)
                )
        if self.window_s:
            parts.append(f"watched {seconds_text(self.window_s)} from the enqueue")
        return ", ".join(parts)

    def cell(self) -> str:
        """A compact table cell: outcome, which categories suffered, the key timing."""
        if self.not_finished == 0 and self.duplicated == 0:
            text = f"all {self.tasks} once"
        else:
            text = f"{self.tasks} tasks: " + self.short()
        timing = self.timing()
        return text + (f"; {timing}" if timing else "")

    def short(self) -> str:
        """'**10 gone**, 2 stranded, 2 failed, 1 duplicated' or, for older records, '**10 lost** (running 2/2, …)'."""
        parts = []
        if self.classified:
            if self.gone:
                parts.append(f"**{self.gone} gone** ({self.gone_categories()})")
            if self.stranded:
                parts.append(f"{self.stranded} stranded ({self.stranded_categories()})")
            if self.failed:
                parts.append(f"{self.failed} failed ({self.failed_categories()})")
        elif self.lost:
            parts.append(f"**{self.lost} lost** ({self.lost_categories()})")
        if self.duplicated:
            parts.append(f"{self.duplicated} duplicated ({self.duplicated_categories()})")
        return ", ".join(parts) or "none lost"

    def timing(self) -> str:
        """The kind's key time: redelivery after a kill, shutdown after SIGTERM, reconnection after Redis."""
        kind = self.kind
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
    problems = premise.get("problems") if isinstance(premise, Mapping) else None
    reason = "; ".join(str(p) for p in problems) if isinstance(problems, Sequence) and problems else ""
    reason = reason or (record.error or "").removeprefix("premise not met: ")
    if isinstance(premise, Mapping) and premise.get("seen"):
        reason += ("; " if reason else "") + f"saw {_seen_text(premise.get('seen'))}"
    return reason or "premise not met"


def _state_text(state: str) -> str:
    """'not_started:queued' → 'queued'; 'not_started:nowhere' → 'in a worker's memory'; 'retrying:failed' →
    'retrying (failed)'."""
    what, _, place = state.partition(":")
    if not place:
        return what.replace("_", " ")
    where = "in a worker's memory" if place == "nowhere" else place
    return where if what == "not_started" else f"{what.replace('_', ' ')} ({where})"


def _seen_text(seen: Any) -> str:
    """{'running': {'running': 1, 'finished': 1}} → 'running: 1 running, 1 finished'."""
    if not isinstance(seen, Mapping):
        return "?"
    parts = []
    for category, states in seen.items():
        if isinstance(states, Mapping):
            parts.append(f"{category}: " + ", ".join(f"{n} {_state_text(str(s))}" for s, n in states.items()))
    return "; ".join(parts) or "?"


def premise_seen(record: Record) -> str:
    """'premise proven: running: 2 running; waiting: 10 queued' — what was seen at the fault instant; '' unrecorded."""
    premise = record.notes.get("premise")
    if not isinstance(premise, Mapping) or not isinstance(premise.get("seen"), Mapping):
        return ""
    head = "premise proven" if premise.get("met") is not False else "premise **not met**"
    return f"{head}: {_seen_text(premise['seen'])}"


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
    kinds = ("lost", *OUTCOMES)
    counts = {k: len(acc.get(k, [])) for k in kinds}
    ids_of = {k: set(acc.get(k, [])) for k in kinds}
    every = [p for k in kinds for p in acc.get(k, [])]
    categories: dict[str, CategoryOutcome] = {}
    for name, marker in _PROBE_MARKERS.items():
        tasks = value(record, f"{name}_tasks")

        def count(outcome: str, name: str = name) -> int:
            return int(value(record, f"{name}_{outcome}") or 0)

        if tasks is not None:
            categories[name] = CategoryOutcome(
                int(tasks), count("lost"), count("duplicated"), count("stranded"), count("gone"), count("failed")
            )
            continue
        ids = [p for p in every if marker in p]
        if ids:
            categories[name] = CategoryOutcome(
                len(ids),
                *(sum(p in ids_of[k] for p in ids) for k in ("lost", "duplicated", "stranded", "gone", "failed")),
            )
        elif value(record, f"{name}_lost"):
            categories[name] = CategoryOutcome(None, count("lost"), 0)
    if record.params.get("kind") == "long_delay" and "delayed" in categories:
        categories = {}  # one category (the scheduled tasks themselves): the totals say it all
    rerun = value(record, "interrupted_rerun")
    due_min, due_max = value(record, "stranded_returns_in_s_min"), value(record, "stranded_returns_in_s_max")
    if due_min is None and due_max is None:
        due = _due_from_samples(record)
    else:
        due = (due_min if due_min is not None else due_max, due_max if due_max is not None else due_min)

    def whole(name: str) -> int | None:
        found = value(record, name)
        return None if found is None else int(found)

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
        failed=counts["failed"],
        at_risk=whole("at_risk"),
        stranded_due_s=due,  # type: ignore[arg-type]
        stranded_rules=tuple(stranded_rules(record)) if counts["stranded"] else (),
        premise=premise_text(record),
        eventual_window_s=value(record, "eventual_window_s"),
        eventually_watched=whole("eventually_watched"),
        eventually_completed=whole("eventually_completed"),
        eventually_s_max=value(record, "eventually_s_max"),
        runs_max=whole("runs_max"),
        started_early=whole("started_early"),
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
    """What the enqueue call and the shop view did while the broker was down (``redis_down_enqueue``,
    ``rabbitmq_down_enqueue``)."""

    call_s: float | None
    raised: bool | None
    blocked: bool | None
    exception: str | None
    message: str | None
    view_s: float | None
    view_outcome: Any
    timeout_s: float | None
    broker: str = "Redis"

    def call_text(self) -> str:
        """'raised redis.exceptions.ConnectionError after 1.9 ms', 'still blocked after 15 s' …"""
        if self.blocked:
            return f"still blocked after {_seconds(self.timeout_s)} (the call never returned within the limit)"
        when = f" after {_seconds(self.call_s)}" if self.call_s is not None else ""
        if self.raised:
            return f"raised `{self.exception or 'an exception'}`{when}"
        return f"returned normally{when}, without an error (the task is not in {self.broker})"

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
    """The down-enqueue facts of a record; None for a failed record or another kind of fault."""
    if not record.ok or record.params.get("kind") not in DOWN_ENQUEUE_KINDS:
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
        broker=fault_broker(record.params.get("kind")),
    )


@dataclass(frozen=True)
class TransactionFacts:
    """One ``transaction`` record: a task enqueued inside a transaction that commits late or rolls back."""

    record: Record
    mode: str
    committed: bool | None
    enqueued: bool | None  # False: on_commit never fired (rolled back)
    attempts: int
    started_before_end: bool | None
    failed_attempts: int
    succeeded: bool | None
    first_start_s: float | None  # enqueue → first start
    hold_s: float | None

    @property
    def on_commit(self) -> bool:
        return self.mode.startswith("on_commit")

    def mode_name(self) -> str:
        """'late commit', 'on_commit, rollback' …"""
        return TRANSACTION_MODE_NAMES.get(self.mode, self.mode.replace("_", " "))

    def mode_text(self) -> str:
        """'enqueued inside the transaction, commit 1.0 s later' …"""
        text = TRANSACTION_MODES.get(self.mode, self.mode)
        if self.hold_s is not None:
            text = text.replace("1 s later", f"{seconds_text(self.hold_s)} later")
        return text

    def brief(self) -> str:
        """The Answers' words: 'ran before the commit (2 attempts, succeeded)', 'task ran (raised)' …"""
        if self.enqueued is False and not self.attempts:
            return "nothing enqueued"
        if not self.attempts:
            return "never ran"
        result = "succeeded" if self.succeeded else "raised" if self.failed_attempts else "did not succeed"
        if self.attempts > 1:
            result = f"{self.attempts} attempts, {result}"
        if self.committed is False:
            return f"**task ran** ({result})"
        return f"ran {'**before**' if self.started_before_end else 'after'} the commit ({result})"

    def short(self) -> str:
        """The scorecard's words for this mode."""
        if self.mode == "commit_late":
            return "ran before commit" if self.started_before_end else "ran after commit"
        if self.mode == "rollback":
            return "rolled-back task ran" if self.attempts else "rolled-back task not run"
        return ""


def transaction_facts(record: Record) -> TransactionFacts | None:
    """The facts of an ok ``transaction`` record; None otherwise."""
    if not record.ok or record.params.get("kind") != "transaction":
        return None
    attempts, failed = value(record, "attempts"), value(record, "failed_attempts")
    return TransactionFacts(
        record=record,
        mode=str(record.params.get("mode", "?")),
        committed=flag(record, "committed"),
        enqueued=flag(record, "enqueued"),
        attempts=int(attempts or 0),
        started_before_end=flag(record, "started_before_transaction_end"),
        failed_attempts=int(failed or 0),
        succeeded=flag(record, "succeeded"),
        first_start_s=value(record, "first_start_after_enqueue_s"),
        hold_s=value(record, "hold_s"),
    )


def on_commit_text(facts: Mapping[str, TransactionFacts]) -> str:
    """'on_commit fixed both' or what it left: 'on_commit: the rolled-back task still ran' …; '' when not measured."""
    fixed = on_commit_fixed(facts)
    if fixed is None:
        return ""
    if fixed:
        return "on_commit fixed both"
    late, rollback = facts["on_commit_late"], facts["on_commit_rollback"]
    left = []
    if rollback.enqueued is not False or rollback.attempts:
        left.append("the rolled-back task was still enqueued" + (" and ran" if rollback.attempts else ""))
    if late.started_before_end:
        left.append("the late commit's task still ran before the commit")
    if not late.succeeded:
        left.append("the late commit's task did not succeed")
    return "on_commit did **not** fix it: " + ", ".join(left)


def on_commit_fixed(facts: Mapping[str, TransactionFacts]) -> bool | None:
    """Did ``on_commit`` fix both problems: nothing enqueued for a rollback, the late commit's task succeeded?

    None when either on_commit mode is missing.
    """
    late, rollback = facts.get("on_commit_late"), facts.get("on_commit_rollback")
    if late is None or rollback is None:
        return None
    return bool(late.succeeded and not late.started_before_end and rollback.enqueued is False and not rollback.attempts)


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
