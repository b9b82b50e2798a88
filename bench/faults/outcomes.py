"""What became of every task of a fault scenario: pure functions of channel events and broker locations.

Two moments matter. **At the fault instant** each task is in a *state* read from the channel (finished, running,
retrying, not started) and, for the unfinished ones, in a *place* the backend names (``bench.contract.Location``):
that is the premise a fault record proves. **After the observation window** each task has one *outcome*:

* ``completed`` — finished exactly once;
* ``duplicated`` — finished more than once;
* ``stranded`` — not finished, but still held where the library itself would run it from (its queue, a worker's
  reservation that a visibility or heartbeat timeout returns, a schedule), with the time at which it would;
* ``failed`` — not finished, recorded as failed by the library (visible in its admin or result store);
* ``gone`` — not finished, and no retry, timeout or scheduler will ever run it: held nowhere, or held only as a
  reservation that nothing takes back (its location says ``reserved`` with no return time: RQ's started-job registry
  of a dead worker, django-tasks-db's RUNNING row).

Different faults are never added together: each fault record carries its own counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.contract import HELD
from bench.results import FAULT_OUTCOMES

#: The outcome classes, in reading order.
OUTCOMES = FAULT_OUTCOMES
#: Task categories of the mixed fault workload (what the harness arranged), in reading order.
CATEGORIES = ("running", "waiting", "delayed", "retrying")


def state_at(t_ns: int, starts: Sequence[int], finishes: Sequence[int], errors: Sequence[int]) -> str:
    """A task's state at ``t_ns`` from its channel events: ``finished``, ``running``, ``retrying`` or ``not_started``.

    ``retrying``: its last attempt before ``t_ns`` raised and no later attempt had started.
    """
    if any(t <= t_ns for t in finishes):
        return "finished"
    started = [t for t in starts if t <= t_ns]
    if not started:
        return "not_started"
    last_start = max(started)
    if any(last_start <= t <= t_ns for t in errors):
        return "retrying"
    return "running"


def outcome(finish_count: int, location: Mapping[str, Any] | None) -> str:
    """One task's outcome after the window, from how often it finished and where its library holds it.

    ``location`` is only consulted for a task that never finished; ``None`` (not looked up) or ``unknown`` (the
    lookup failed) cannot be classified and raise ``ValueError`` -- the caller records the lookup failure instead of
    guessing an outcome.
    """
    if finish_count == 1:
        return "completed"
    if finish_count > 1:
        return "duplicated"
    where = (location or {}).get("where")
    if where == "reserved" and (location or {}).get("returns_in_s") is None:
        return "gone"  # reserved by a worker that will never finish it, and nothing hands it back
    if where in HELD:
        return "stranded"
    if where == "done":  # the library counts it done although its body's finish event is missing
        return "completed"
    if where == "failed":
        return "failed"
    if where == "nowhere":
        return "gone"
    raise ValueError(f"cannot classify a task the backend could not locate: {location!r}")


@dataclass
class Classified:
    """Outcomes of one fault run: ids per outcome, counts per category, and the stranded tasks' due times."""

    by_outcome: dict[str, list[str]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})
    per_category: dict[str, Counter[str]] = field(default_factory=dict)
    stranded: dict[str, dict[str, Any]] = field(default_factory=dict)

    def values(self, categories: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        """Flat counts for a record: every outcome, ``<category>_<outcome>``, ``<category>_tasks``, due times."""
        values: dict[str, Any] = {o: len(ids) for o, ids in self.by_outcome.items()}
        for category, probes in categories.items():
            values[f"{category}_tasks"] = len(probes)
            counts = self.per_category.get(category, Counter())
            for o in OUTCOMES:
                values[f"{category}_{o}"] = counts.get(o, 0)
        due = [s["returns_in_s"] for s in self.stranded.values() if s.get("returns_in_s") is not None]
        values["stranded_returns_in_s_min"] = min(due, default=None)
        values["stranded_returns_in_s_max"] = max(due, default=None)
        return values

    def rules(self) -> list[str]:
        """The distinct settings that decide when stranded tasks come back (for the report's sentence)."""
        return sorted({s.get("rule") or "" for s in self.stranded.values()} - {""})


def classify(
    categories: Mapping[str, Sequence[str]],
    finishes: Mapping[str, Sequence[int]],
    locations: Mapping[str, Mapping[str, Any]],
    *,
    at_risk: Iterable[str] | None = None,
) -> Classified:
    """Classify every task of ``categories`` (category → probes).

    ``locations`` must hold a location for every probe that never finished (see :func:`outcome`). ``at_risk``
    restricts the per-category counts to the tasks the fault could affect (those unfinished at the fault instant);
    the per-outcome id lists always hold every task, so that each id is in exactly one of them.
    """
    risky = None if at_risk is None else set(at_risk)
    result = Classified()
    for category, probes in categories.items():
        counts: Counter[str] = Counter()
        for probe in probes:
            o = outcome(len(finishes.get(probe, ())), locations.get(probe))
            result.by_outcome[o].append(probe)
            if risky is None or probe in risky:
                counts[o] += 1
            if o == "stranded":
                result.stranded[probe] = dict(locations[probe])
        result.per_category[category] = counts
    return result


@dataclass(frozen=True)
class Premise:
    """The state a fault needs at its instant, checked from the outside, and what was seen."""

    wanted: str
    met: bool
    seen: dict[str, dict[str, int]]
    problems: tuple[str, ...] = ()

    def as_note(self) -> dict[str, Any]:
        """The record's ``notes["premise"]``."""
        return {"wanted": self.wanted, "met": self.met, "seen": self.seen, "problems": list(self.problems)}


def check_premise(
    categories: Mapping[str, Sequence[str]],
    states: Mapping[str, str],
    places: Mapping[str, str],
    running_pids: Iterable[int],
    processes: int,
) -> Premise:
    """Does the arranged state hold at the fault instant?

    ``states``: probe → :func:`state_at`; ``places``: probe → the backend's ``where`` for unfinished tasks
    (``nowhere`` for a task that was never started while workers run means "in a worker's memory", i.e.
    prefetched where Redis cannot see it). Wanted: one gated long task running in every worker process; every
    waiting and delayed task not started and held by the broker or a worker; every retrying task between a failed
    attempt and its retry.
    """
    seen: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    for category, probes in categories.items():
        counts: Counter[str] = Counter()
        for probe in probes:
            state = states.get(probe, "not_started")
            place = places.get(probe)
            counts[state if state in ("finished", "running") or place is None else f"{state}:{place}"] += 1
        seen[category] = dict(sorted(counts.items()))
    pids = set(running_pids)
    running = [p for p in categories.get("running", ()) if states.get(p) == "running"]
    if len(pids) != processes or len(running) < processes:
        problems.append(
            f"{len(running)} gated task(s) running in {len(pids)} distinct process(es); every one of the "
            f"{processes} worker processes should be inside one"
        )
    for category in ("waiting", "delayed"):
        started = [p for p in categories.get(category, ()) if states.get(p, "not_started") != "not_started"]
        if started:
            problems.append(f"{len(started)} {category} task(s) had already started")
        unknown = [p for p in categories.get(category, ()) if places.get(p) == "unknown"]
        if unknown:
            problems.append(f"{len(unknown)} {category} task(s) could not be located")
    not_retrying = [p for p in categories.get("retrying", ()) if states.get(p) != "retrying"]
    if not_retrying:
        problems.append(f"{len(not_retrying)} retrying task(s) were not between a failed attempt and their retry")
    wanted = (
        f"every one of the {processes} worker processes inside a gated long task; waiting and delayed tasks not "
        "started and held by the broker or a worker; retrying tasks between a failed attempt and their retry"
    )
    return Premise(wanted=wanted, met=not problems, seen=seen, problems=tuple(problems))
