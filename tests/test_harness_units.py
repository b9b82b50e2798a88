"""Unit tests of the harness's own logic: presets, run order, fault accounting, the channel watcher."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.backends import get_backends, load_baseline
from bench.channel_wait import ChannelWatcher
from bench.errors import UsageError
from bench.faults.retries import account, gaps_s
from bench.report.content import left_out
from bench.runner import RunContext, Session, SessionSpec, plan_sessions
from bench.scenarios import (
    PRESETS_FILE,
    REGISTRY,
    load_presets,
    parse_preset,
    select_scenarios,
)
from bench.scenarios.session import ScenarioSession
from shop.channel import ChannelWriter

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent


def _preset_table(name: str = "smoke") -> dict:
    import tomllib

    return tomllib.loads(PRESETS_FILE.read_text())[name]


def test_shipped_presets_load_and_fit_the_minimums() -> None:
    presets = load_presets()
    full, quick = presets["full"], presets["quick"]
    assert full.enqueue_count * len(full.enqueue_tasks) >= 10_000
    # The 30-min budget on 2 cores: the full preset measures at its default process count and faults in `shipped`; the
    # other counts and `safe` faults are asked for with --processes / --fault-profiles (test_preset_overrides).
    assert full.processes == (full.default_processes,) and full.fault_profiles == ("shipped",)
    assert full.concurrent_tasks and not quick.concurrent_tasks  # quick ranks noop only (README: shop orders swap)
    assert presets["quick"].repetitions >= 1
    # Windows measured in time, long enough for stable figures: >= 10 s (full) / 3 s (quick) of steady throughput,
    # >= 20 s per latency rate (full), >= 20 idle-pickup samples per idle period.
    assert full.throughput_steady_s >= 10 and quick.throughput_steady_s >= 3
    assert full.latency_duration_s >= 20
    assert min(full.idle_pickup_samples, quick.idle_pickup_samples) >= 20


def test_preset_overrides_bring_back_the_trimmed_sessions() -> None:
    from bench.__main__ import override_preset

    full = load_presets()["full"]
    assert override_preset(full, None, None) is full
    scaled = override_preset(full, "4, 1", "shipped,safe,safe")
    # The default count is always measured (everything but the backlog runs only there).
    assert scaled.processes == (1, 2, 4) and scaled.fault_profiles == ("shipped", "safe")
    assert replace(scaled, processes=full.processes, fault_profiles=full.fault_profiles) == full
    backends = [*get_backends(["celery"]), load_baseline()]
    sessions = plan_sessions(backends, ["shipped"], select_scenarios(None), scaled, seed=1)
    assert sorted((s.backend.name, s.processes) for s in sessions if "throughput" in s.scenarios) == [
        ("celery", 1),
        ("celery", 2),
        ("celery", 4),
        ("redis-baseline", 1),
        ("redis-baseline", 2),
        ("redis-baseline", 4),
    ]
    assert sorted(s.profile for s in sessions if "faults" in s.scenarios) == ["safe", "shipped"]
    for bad, message in (("", "at least one"), ("1;2", "comma-separated"), ("-1", ">= 1")):
        with pytest.raises(UsageError, match=message):
            override_preset(full, bad, None)
    with pytest.raises(UsageError, match=r"--fault-profiles: .*must list some of bare, shipped, safe"):
        override_preset(full, None, "tuned")
    # The library alone: its fault outcomes say which layer (library or Django integration) causes a finding.
    assert override_preset(full, None, "bare,shipped").fault_profiles == ("bare", "shipped")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"default_processes": 3}, "default_processes=3 is not one of"),
        ({"latency_rates": [50, 20]}, "strictly increasing"),
        ({"idle_pickup_samples": 5}, "'idle_pickup_samples' must be an integer >= 20"),
        ({"resource_interval_s": 0.2, "throughput_steady_s": 0.5}, "must give >= 5 readings"),
        ({"throughput_warmup_s": -1}, "'throughput_warmup_s' must be a number >= 0"),
        ({"enqueue_tasks": ["noop", "mine_bitcoin"]}, "unknown task(s) mine_bitcoin"),
        ({"redis_persistence": ["rdb"]}, "redis_persistence"),
        ({"retry_window_s": 2.0}, "retry_window_s must be >= 5"),
        ({"fault_profiles": ["tuned"]}, "fault_profiles"),
        ({"processes": [1, 1]}, "distinct"),
        ({"surprise": 1}, "unknown key(s) surprise"),
        ({"left_out": ["faults", "speed"]}, "'left_out' names unknown scenario(s) speed"),
    ],
)
def test_impossible_presets_are_rejected_when_loaded(change: dict, message: str) -> None:
    table = _preset_table() | change
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_preset("broken", table)


def test_missing_preset_key_is_named() -> None:
    table = _preset_table()
    del table["latency_rates"]
    with pytest.raises(UsageError, match="missing key"):
        parse_preset("broken", table)


def test_the_quick_preset_leaves_whole_scenarios_to_the_report() -> None:
    """Quick's time budget leaves the fault phase and the statement counts out, and the report says so, with how
    to ask for them; the fault scenarios' own trims are not listed when they did not run at all."""
    quick = load_presets()["quick"]
    assert set(quick.left_out) == {"channel_overhead", "retries", "faults", "db_statements"}
    assert load_presets()["full"].left_out == ()
    said = left_out(quick.as_dict(), quick.left_out)
    assert said[0] == (
        "measurement channel overhead, retries and faults (`--scenarios all` runs every scenario; "
        "`--scenarios channel_overhead,retries,faults` these)"
    )
    assert "database statements per task" in said
    assert not any("Redis crash" in item or "redelivery" in item for item in said)
    # Asked for with --scenarios, the fault phase runs: its trims are listed again.
    assert any("Redis crash" in item for item in left_out(quick.as_dict(), ()))


def test_unknown_scenario_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError, match=r"unknown scenario.*valid: enqueue, throughput"):
        select_scenarios(["enqueue", "speed"])
    assert select_scenarios(["latency", "enqueue"]) == ("enqueue", "latency")  # session order, not argument order
    assert select_scenarios(["all"]) == select_scenarios(None)


def test_run_order_is_shuffled_complete_and_reproducible() -> None:
    preset = replace(load_presets()["quick"], repetitions=2)
    backends = [*get_backends(), load_baseline()]
    scenarios = select_scenarios(None)
    a = plan_sessions(backends, ["shipped"], scenarios, preset, seed=1)
    b = plan_sessions(backends, ["shipped"], scenarios, preset, seed=1)
    c = plan_sessions(backends, ["shipped"], scenarios, preset, seed=2)
    assert [s.label for s in a] == [s.label for s in b]
    assert [s.label for s in a] != [s.label for s in c]
    assert sorted(s.label for s in a) == sorted(s.label for s in c)
    # Every backend, repetition and process count has a session; faults once per backend and fault profile.
    perf = {(s.backend.name, s.repetition, s.processes) for s in a if "throughput" in s.scenarios}
    assert len(perf) == len(backends) * 2 * len(preset.processes)
    faults = [s for s in a if "faults" in s.scenarios]
    assert sorted((s.backend.name, s.profile) for s in faults) == sorted(
        (b.name, p) for b in backends if b.django for p in preset.fault_profiles
    )
    # The Redis floor only has noop: no fault or retry scenario is planned for it.
    assert all(s.backend.django for s in a if {"retries", "faults"} & set(s.scenarios))


def test_every_scenario_is_one_unit_whose_pointers_resolve() -> None:
    """Each registry entry declares its own keys (each key once), reads only declared keys, names a report section
    with a title and details and real functions, and its method text names only declared keys."""
    import string

    from bench.scenarios.preset import preset_keys

    keys = {key.name for key in preset_keys()}
    assert set(load_presets()["quick"].as_dict()) - {"name"} == keys
    for name, unit in REGISTRY.items():
        assert unit.name == name
        assert set(unit.reads) <= keys, (name, set(unit.reads) - keys)
        section = unit.section_module()
        assert section is not None and isinstance(section.TITLE, str) and callable(section.details), name
        # resources is recorded by the throughput drain; a unit outside the sessions by the command line
        assert unit.run is not None or name == "resources" or not unit.in_session
        assert unit.method, f"{name}: no method text for the report"
        placeholders = {field for _, field, _, _ in string.Formatter().parse(unit.method) if field}
        assert {p.split(":")[0] for p in placeholders} <= keys, name
        assert unit.estimate is not None or unit.run is None, f"{name}: no duration estimate for the ETA"


def _protocol_members(protocol: type) -> set[str]:
    """Attribute, property and method names a typing Protocol declares, its bases' included."""
    names: set[str] = set()
    for klass in protocol.__mro__:
        if klass is object or not getattr(klass, "_is_protocol", False) or klass.__name__ == "Protocol":
            continue
        names |= set(getattr(klass, "__annotations__", {}))
        names |= {n for n in vars(klass) if not n.startswith("_")}
    return names


def test_session_provides_the_scenario_interface(tmp_path: Path) -> None:
    """The runner's Session has every member of the interface the scenarios are written against."""
    backend = get_backends()[0]
    preset = load_presets()["smoke"]
    # Constructing a Session starts nothing: the broker and SMTP sink are only named (their URL and port).
    ctx = RunContext(
        preset=preset,
        redis=SimpleNamespace(url="redis://127.0.0.1:1/0"),  # type: ignore[arg-type]
        smtp=SimpleNamespace(port=1),  # type: ignore[arg-type]
        workdir=tmp_path,
        out_dir=tmp_path,
    )
    session = Session(SessionSpec(backend, "shipped", 1, 0, ("enqueue",)), ctx)
    members = _protocol_members(ScenarioSession)
    assert {"producer", "watcher", "record", "start_workers", "drain", "preset", "backend"} <= members
    missing = sorted(n for n in members if not hasattr(session, n))
    assert not missing, f"Session lacks {missing}"
    assert session.prefix("x") == "x1-" and session.seq == 1
    record = session.record("enqueue", {"task": "noop"})
    session.drop(record)
    assert session.records == []


def test_accounting_puts_every_task_in_exactly_one_bucket() -> None:
    finishes = {"a": [1], "b": [1, 2], "d": []}
    result = account(["a", "b", "c", "d"], finishes)
    assert result == {"completed": ["a"], "duplicated": ["b"], "unfinished": ["c", "d"]}
    assert sorted(p for bucket in result.values() for p in bucket) == ["a", "b", "c", "d"]


def test_gaps_are_between_sorted_attempt_starts() -> None:
    assert gaps_s([3_000_000_000, 1_000_000_000, 1_500_000_000]) == [0.5, 1.5]
    assert gaps_s([5]) == []


def test_channel_watcher_follows_real_writers_across_processes(tmp_path: Path) -> None:
    writer = ChannelWriter(tmp_path)
    watcher = ChannelWatcher(str(tmp_path))
    writer.write("S", "p1")
    writer.write("F", "p1")
    # Another process writes its own file; the watcher must see it too.
    code = (
        "import sys; from shop.channel import ChannelWriter; "
        "w = ChannelWriter(sys.argv[1]); w.write('S', 'p2'); w.write('E', 'p2')"
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    assert not watcher.wait_finished(["p1", "p2"], timeout_s=0.3)
    log = watcher.log
    assert log.finished(["p1", "p2"]) == 1 and log.errors["p2"] and len(log.pids) == 2
    t0 = time.monotonic()
    writer.write("F", "p2")
    assert watcher.wait_finished(["p1", "p2"], timeout_s=5)
    assert time.monotonic() - t0 < 2


def _latency_record(*, sent_per_s: float, completed_per_s: float, lost: int, p99_ms: float) -> dict:
    """A latency record of one 50/s rate as the scenario writes it (to-start latencies all ``p99_ms``)."""
    from bench import stats

    hist = stats.new_histogram()
    stats.record(hist, [int(p99_ms * 1e6)] * 100)
    return {
        "backend": "x",
        "profile": "shipped",
        "scenario": "latency",
        "params": {"task": "noop", "processes": 2, "rate": 50},
        "repetition": 1,
        "status": "failed" if lost else "ok",
        "error": None,
        "histograms": {"to_start_ns": stats.encode(hist), "to_finish_ns": stats.encode(hist)},
        "values": {"offered_rate": 50, "achieved_rate": sent_per_s, "completed_rate": completed_per_s, "lost": lost},
        "samples": {},
        "started_at": "2026-11-29T00:00:00+00:00",
        "duration_s": None,
    }


@pytest.mark.parametrize(
    ("sent", "completed", "lost", "p99_ms", "expected"),
    [
        (50, 49.5, 0, 5, None),  # sustained: go on
        (50, 49.5, 0, 300, None),  # over the 100 ms bound but keeping up: a higher rate may still say something
        (50, 30, 0, 5, "saturated"),  # completions fell behind the send rate
        (40, 40, 0, 5, "saturated"),  # the producer could not send on schedule
        (50, 49.5, 3, 5, "tasks lost"),
        (50, 49.5, 0, 2500, "p99 to start above 20 x the bound"),
    ],
)
def test_latency_ladder_stops_after_the_first_rate_the_report_calls_saturated(
    sent: float, completed: float, lost: int, p99_ms: float, expected: str | None
) -> None:
    """The ladder stops where the report's rate state (one function for both) ends the sustainable range."""
    from bench.scenarios.latency import ladder_stop

    record = _latency_record(sent_per_s=sent, completed_per_s=completed, lost=lost, p99_ms=p99_ms)
    assert ladder_stop(record, bound_ns=100e6) == expected


def _simulated_drain(true_rate: float, lost_s: float, steady_min_s: float, calls: list[int]):
    """A ``measure`` for :func:`sized_windows`: a backend draining ``true_rate`` tasks/s, of which ``lost_s``
    (warm-up and ragged tail) do not count as steady."""

    def measure(n: int, attempt: int, capped: bool) -> tuple[dict, list[int]]:
        calls.append(n)
        steady = n / true_rate - lost_s
        values = {"tasks_per_s": true_rate, "steady_s": steady, "attempts": attempt, "capped": capped}
        record = {"status": "too_short" if steady < steady_min_s else "ok", "values": values}
        return record, [int(i * 1e9 / true_rate) for i in range(n)]

    return measure


@pytest.mark.parametrize(
    ("estimate", "margin", "true_rate", "lost_s", "expected_calls"),
    [
        # The workers kept up with the producer in the warm-up (the Redis floor in a profiling run: 5,171/s, then
        # 11,753 drained):
        # x 2.5 fills the window at once.
        (5171.0, 2.5, 11753.0, 0.5, [45_249]),
        # The same estimate at x 1.5 comes out short; the retry is sized from the short window's own rate x 1.5
        # (11,753 x 3.5 s x 1.5 + 2 processes), not doubled.
        (5171.0, 1.5, 11753.0, 0.5, [27_150, 61_706]),
        # A retry whose measured rate asks for fewer tasks than 1.25x the short window still grows 1.25x, and a third
        # attempt again.
        (100.0, 2.5, 200.0, 2.5, [877, 1097, 1372]),
    ],
)
def test_throughput_window_is_sized_from_a_measured_rate_and_a_retry_from_its_own(
    estimate: float, margin: float, true_rate: float, lost_s: float, expected_calls: list[int]
) -> None:
    """Window sizing (quick: 0.5 s warm-up + 3 s steady): one attempt when the margin covers the estimate's error,
    else a retry sized from what the short window measured; only the last attempt stays, saying what sized it."""
    from bench.scenarios.throughput import sized_windows

    preset = load_presets()["quick"]
    kept: list[dict] = []
    session = SimpleNamespace(preset=preset, processes=2, rates={}, drop=lambda record: kept.remove(record))
    calls: list[int] = []
    simulate = _simulated_drain(true_rate, lost_s, preset.throughput_steady_s, calls)

    def measure(n: int, attempt: int, capped: bool) -> tuple[dict, list[int]]:
        record, done = simulate(n, attempt, capped)
        kept.append(record)
        return record, done

    key = ("b", "shipped", "noop", "backlog", 2, "loopback")
    done = sized_windows(session, key, estimate, measure, margin=margin)  # type: ignore[arg-type]
    assert calls == expected_calls
    assert len(kept) == 1 and kept[0]["status"] == "ok" and len(done) == calls[-1]
    assert session.rates[key] == true_rate
    last = kept[0]["values"]
    assert last["sized_margin"] == (margin if len(calls) == 1 else 1.5)
    assert last["sized_rate"] == (estimate if len(calls) == 1 else true_rate)


def test_a_capped_window_is_not_measured_again() -> None:
    """A window at the preset's task cap that came out short stays, flagged, instead of a futile retry."""
    from bench.scenarios.throughput import sized_windows

    preset = replace(load_presets()["quick"], max_window_tasks=1000)
    session = SimpleNamespace(preset=preset, processes=2, rates={}, drop=lambda record: None)
    calls: list[int] = []
    measure = _simulated_drain(10_000.0, 0.5, preset.throughput_steady_s, calls)
    sized_windows(session, ("b", "shipped", "noop", "backlog", 2), 5000.0, measure)  # type: ignore[arg-type]
    assert calls == [1000]


def test_a_rate_measured_at_one_network_never_sizes_a_window_at_another() -> None:
    """The run's measured rates are keyed by network too: the database floor drained 3,600 noops/s on loopback and
    210/s at 2 ms (results/2026-12-06T04-12-08Z-78d0864), so a loopback rate sizing the az window made it 17x too
    long to drain in time."""
    from bench.scenarios.throughput import rate_key

    def session(network: str) -> SimpleNamespace:
        backend = SimpleNamespace(name="db-baseline")
        return SimpleNamespace(backend=backend, profile="shipped", processes=2, network={"name": network})

    loopback, az = (rate_key(session(n), "noop", "backlog") for n in ("loopback", "az"))  # type: ignore[arg-type]
    assert loopback != az
    assert loopback[:5] == az[:5] and (loopback[5], az[5]) == ("loopback", "az")
