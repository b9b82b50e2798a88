"""The arithmetic of "done" and of time-based throughput windows (bench.completion), on synthetic channel logs.

The wiring -- real workers writing ``C`` events that the harness counts -- is checked by tests/test_pipeline.py and
tests/test_contract_confirm.py; here the numbers are known in advance.
"""

from __future__ import annotations

import pytest

from bench import completion
from bench.channel_wait import ProbeLog

pytestmark = pytest.mark.unit

S = 1_000_000_000  # ns per second


def backlog_log(n: int, *, body_every_ns: int, confirm_every_ns: int, t0: int = 10 * S) -> ProbeLog:
    """``n`` probes started and finished every ``body_every_ns``; confirmed every ``confirm_every_ns`` (a backend
    whose bookkeeping is slower than its bodies, like a monitor process saving results one by one)."""
    log = ProbeLog()
    for i in range(n):
        start = t0 + i * body_every_ns
        log.add("S", f"p{i}", start, 1)
        log.add("F", f"p{i}", start + body_every_ns // 2, 1)
        log.add("C", f"p{i}", t0 + (i + 1) * confirm_every_ns, 2)
    return log


def test_rate_is_computed_from_confirmed_events_not_body_finishes() -> None:
    # Bodies finish at 1,000/s, the backend confirms 200/s: the backend's rate is the confirmed one.
    log = backlog_log(3000, body_every_ns=S // 1000, confirm_every_ns=S // 200)
    probes = [f"p{i}" for i in range(3000)]
    values, parts = completion.throughput_values(
        log, probes, completion=completion.CONFIRMED, warmup_s=1.0, processes=2
    )
    assert values["completion"] == "confirmed"
    assert values["tasks_per_s"] == pytest.approx(200, rel=1e-3)
    assert values["confirmed_tasks_per_s"] == pytest.approx(200, rel=1e-3)
    assert values["body_tasks_per_s"] == pytest.approx(1000, rel=1e-2)
    # Confirmations run from 10.005 s to 25 s: 1 s of warm-up out, the last 2 (the tail) out.
    assert values["steady_s"] == pytest.approx(15.0 - 0.005 - 1.0 - 2 * 0.005, abs=1e-6)
    assert values["completed"] == 3000 and values["lost"] == 0
    assert len(parts) == completion.WINDOW_PARTS and all(r == pytest.approx(200, rel=0.05) for r in parts)
    # The lag grows as the confirmations fall behind: task i is confirmed at (i+1)*5 ms, finished at i*1 ms + 0.5 ms.
    assert values["lag_count"] == 3000
    assert values["lag_max_ns"] == 3000 * (S // 200) - (2999 * (S // 1000) + S // 2000)
    assert values["lag_p50_ns"] < values["lag_p99_ns"] <= values["lag_max_ns"]


def test_body_fallback_reads_finishes_and_has_no_lag() -> None:
    log = ProbeLog()
    for i in range(100):
        log.add("S", f"p{i}", i * S // 10, 1)
        log.add("F", f"p{i}", i * S // 10 + 1, 1)
    values, _ = completion.throughput_values(
        log, [f"p{i}" for i in range(100)], completion=completion.BODY, warmup_s=0.0, processes=1
    )
    assert values["completion"] == "body"
    assert values["tasks_per_s"] == pytest.approx(10)
    assert values["confirmed_tasks_per_s"] is None
    assert values["lag_count"] == 0 and values["lag_p50_ns"] is None


def test_window_shorter_than_warmup_is_empty_and_unconfirmed_tasks_are_lost() -> None:
    log = backlog_log(10, body_every_ns=S // 100, confirm_every_ns=S // 100)
    probes = [f"p{i}" for i in range(12)]  # two never ran
    values, parts = completion.throughput_values(
        log, probes, completion=completion.CONFIRMED, warmup_s=1.0, processes=1
    )
    assert values["steady_s"] == 0.0 and values["tasks_per_s"] is None and parts == []
    assert values["lost"] == 2


def test_lag_uses_the_last_finish_before_the_confirmation() -> None:
    log = ProbeLog()
    log.add("F", "x", 100, 1)
    log.add("F", "x", 300, 1)  # a duplicate delivery finished again
    log.add("C", "x", 250, 2)
    assert completion.lags_ns(log, ["x"]) == [150]
    assert completion.nearest_rank([5, 1, 3, 2, 4], 50) == 3
    assert completion.nearest_rank([5, 1, 3, 2, 4], 99) == 5
    assert completion.nearest_rank([], 50) is None


def test_bodies_done_within_the_warmup_get_their_rate_over_their_whole_span() -> None:
    # 100 bodies finish in 0.1 s; the backend confirms them over 10 s.
    log = backlog_log(100, body_every_ns=S // 1000, confirm_every_ns=S // 10)
    values, _ = completion.throughput_values(
        log, [f"p{i}" for i in range(100)], completion=completion.CONFIRMED, warmup_s=0.5, processes=1
    )
    assert values["body_tasks_per_s"] == pytest.approx(1000, rel=1e-6)
    assert values["body_steady_s"] == pytest.approx(0.099)
    assert values["tasks_per_s"] == pytest.approx(10, rel=1e-6)
