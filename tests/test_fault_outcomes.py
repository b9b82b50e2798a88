"""Fault outcome classification and premise checks on synthetic channel logs and broker states.

The real backends are exercised by tests/test_contract.py (gate, ``locate``) and tests/test_pipeline.py (the fault
scenarios end to end); these tests pin down the arithmetic: every task in exactly one outcome, a task held where
its library would run it from is stranded (never "lost"), a task held nowhere is gone.
"""

from __future__ import annotations

import pytest

from bench.faults.outcomes import OUTCOMES, check_premise, classify, outcome, state_at

pytestmark = pytest.mark.unit


def loc(where: str, returns_in_s: float | None = None, rule: str = "") -> dict[str, object]:
    return {"where": where, "detail": f"test {where}", "returns_in_s": returns_in_s, "rule": rule}


@pytest.mark.parametrize(
    ("finishes", "location", "expected"),
    [
        (1, None, "completed"),
        (2, None, "duplicated"),
        (0, loc("queued"), "stranded"),
        (0, loc("reserved", 3600, "visibility_timeout=3600 s"), "stranded"),
        (0, loc("scheduled", 25), "stranded"),
        (0, loc("done"), "completed"),
        (0, loc("failed"), "failed"),
        (0, loc("nowhere"), "gone"),
        (0, loc("reserved", None, "a dead worker's reservation is never taken back"), "gone"),
    ],
)
def test_outcome_of_one_task(finishes: int, location: dict[str, object] | None, expected: str) -> None:
    assert outcome(finishes, location) == expected


@pytest.mark.parametrize("location", [None, loc("unknown")])
def test_an_unlocatable_task_is_never_guessed(location: dict[str, object] | None) -> None:
    with pytest.raises(ValueError, match="could not locate"):
        outcome(0, location)


def test_state_at_the_fault_instant() -> None:
    assert state_at(100, [], [], []) == "not_started"
    assert state_at(100, [150], [], []) == "not_started"  # started after the fault
    assert state_at(100, [50], [], []) == "running"
    assert state_at(100, [50], [90], []) == "finished"
    assert state_at(100, [50], [], [60]) == "retrying"  # failed, retry pending
    assert state_at(100, [50, 80], [], [60]) == "running"  # the retry had started
    assert state_at(100, [50], [120], []) == "running"  # finished only after the fault


def test_every_task_lands_in_exactly_one_outcome_with_per_category_counts() -> None:
    categories = {"running": ["r1", "r2"], "waiting": ["w1", "w2", "w3"], "delayed": ["d1"], "retrying": ["t1"]}
    finishes = {"r1": [10], "w1": [11, 12], "t1": [13]}
    locations = {
        "r2": loc("nowhere"),
        "w2": loc("reserved", 3590.0, "visibility_timeout=3600 s"),
        "w3": loc("queued"),
        "d1": loc("failed"),
    }
    result = classify(categories, finishes, locations, at_risk=["r1", "r2", "w1", "w2", "w3", "d1", "t1"])
    assert result.by_outcome == {
        "completed": ["r1", "t1"],
        "duplicated": ["w1"],
        "stranded": ["w2", "w3"],
        "failed": ["d1"],
        "gone": ["r2"],
    }
    every = [p for ids in result.by_outcome.values() for p in ids]
    assert sorted(every) == sorted(p for ps in categories.values() for p in ps)
    values = result.values(categories)
    assert {o: values[o] for o in OUTCOMES} == {"completed": 2, "duplicated": 1, "stranded": 2, "failed": 1, "gone": 1}
    assert values["running_gone"] == 1 and values["waiting_stranded"] == 2 and values["waiting_duplicated"] == 1
    assert values["stranded_returns_in_s_min"] == values["stranded_returns_in_s_max"] == 3590.0
    assert result.rules() == ["visibility_timeout=3600 s"]


def test_tasks_finished_before_the_fault_are_not_at_risk() -> None:
    categories = {"running": ["r1"], "waiting": ["w1", "w2"], "delayed": [], "retrying": []}
    result = classify(categories, {"r1": [5], "w1": [1], "w2": [9]}, {}, at_risk=["r1", "w2"])
    values = result.values(categories)
    assert values["completed"] == 3  # every id is accounted for ...
    assert values["waiting_completed"] == 1  # ... but only the at-risk ones count per category


def test_premise_holds_only_with_every_process_inside_a_gated_task() -> None:
    categories = {"running": ["r1", "r2"], "waiting": ["w1"], "delayed": ["d1"], "retrying": ["t1"]}
    states = {"r1": "running", "r2": "running", "w1": "not_started", "d1": "not_started", "t1": "retrying"}
    places = {"w1": "queued", "d1": "scheduled", "t1": "scheduled", "r1": "nowhere", "r2": "nowhere"}
    premise = check_premise(categories, states, places, running_pids=[11, 12], processes=2)
    assert premise.met, premise.problems
    assert premise.seen["waiting"] == {"not_started:queued": 1} and premise.seen["running"] == {"running": 2}

    # One process ran both long tasks in turn while the other drained the queue: the reference run's Dramatiq case.
    states_bad = states | {"r2": "finished", "w1": "finished"}
    bad = check_premise(categories, states_bad, places, running_pids=[11], processes=2)
    assert not bad.met
    assert any("distinct process" in p for p in bad.problems)
    assert any("waiting task(s) had already started" in p for p in bad.problems)


def test_premise_fails_when_a_retry_ran_before_the_fault() -> None:
    categories = {"running": ["r1"], "waiting": [], "delayed": [], "retrying": ["t1"]}
    states = {"r1": "running", "t1": "finished"}
    premise = check_premise(categories, states, {}, running_pids=[7], processes=1)
    assert not premise.met and "retrying" in premise.problems[0]
