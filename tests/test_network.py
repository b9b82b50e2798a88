"""The network axis: ``--network`` parsing, its one-line errors, sessions planned per network, the RTT premise."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.backends import get_backends
from bench.errors import UsageError
from bench.network import LOOPBACK, NAMED, Network, parse_network, parse_networks, rtt_premise
from bench.results import Record, RunResults, upgrade
from bench.runner import plan_sessions
from bench.scenarios import PROXIED_ONLY, load_presets

pytestmark = pytest.mark.unit


def test_named_networks_and_any_rtt_are_parsed() -> None:
    assert parse_networks(None) == [LOOPBACK]
    assert [n.name for n in parse_networks("loopback,lan,az")] == ["loopback", "lan", "az"]
    assert parse_network("lan") == Network("lan", 0.5, 40.0, proxied=True)
    assert parse_network("az").rtt_ms == 2.0
    assert parse_network("loopback+proxy") == Network("loopback+proxy", 0.0, 0.0, proxied=True)
    assert parse_network("rtt=1.5ms") == Network("rtt=1.5ms", 1.5, 40.0, proxied=True)
    assert parse_network("rtt=500us").rtt_ms == 0.5
    custom = parse_network("rtt=1.5ms:smtp=10ms")
    assert (custom.name, custom.rtt_ms, custom.smtp_rtt_ms) == ("rtt=1.5ms:smtp=10ms", 1.5, 10.0)
    assert parse_network("lan:smtp=5ms").smtp_rtt_ms == 5.0
    assert parse_networks("az,az") == [NAMED["az"]]


@pytest.mark.parametrize(
    "value", ["wan", "rtt=fast", "rtt=1.5", "rtt=5000ms", "lan:dns=1ms", "loopback:smtp=40ms", "", ",", "lan:smtp="]
)
def test_a_bad_network_is_one_line_and_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError):
        parse_networks(value)
    assert main(["--network", value, "--backends", "redis-baseline", "--no-report"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "network" in err, err


def test_sessions_are_planned_per_network_and_one_network_plans_as_before() -> None:
    preset = load_presets()["quick"]
    backends = get_backends(["celery"], with_baseline=True)
    scenarios = ("enqueue", "throughput", "round_trips")
    before = plan_sessions(backends, ["shipped"], scenarios, preset, seed=7)
    assert all(s.network == LOOPBACK for s in before)
    # round_trips reads the proxy's counters: never on a direct network.
    assert not any(set(s.scenarios) & PROXIED_ONLY for s in before)
    both = plan_sessions(backends, ["shipped"], scenarios, preset, seed=7, networks=(LOOPBACK, NAMED["az"]))
    at_az = [s for s in both if s.network.name == "az"]
    assert len(both) == 2 * len(before) and len(at_az) == len(before)
    assert all("round_trips" in s.scenarios for s in at_az if s.backend.name == "celery")


def test_a_measured_rtt_off_by_more_than_25_percent_fails_the_premise() -> None:
    az = NAMED["az"]
    assert rtt_premise(az, {"redis": {"added_p50_us": 2100.0}, "postgres": {"added_p50_us": 1600.0}}) == []
    problems = rtt_premise(az, {"redis": {"added_p50_us": 2600.0}})
    assert len(problems) == 1 and problems[0].startswith("redis: the proxy added 2.600 ms")
    assert rtt_premise(LOOPBACK, {}) == []
    assert rtt_premise(NAMED["loopback+proxy"], {"redis": {"added_p50_us": 90.0}}) == []


def test_records_carry_their_network_and_old_files_read_as_loopback() -> None:
    old = {"schema_version": 2, "run": {}, "environment": {}, "backends": {}, "records": [
        {"backend": "huey", "profile": "shipped", "scenario": "enqueue", "params": {}, "repetition": 0, "status": "ok"}
    ]}  # fmt: skip
    results = RunResults.from_dict(upgrade(old))
    assert results.records[0].network_name == "loopback"
    at_az = Record("huey", "shipped", "enqueue", {}, 0, network={**NAMED["az"].as_dict(), "measured": {}})
    both = results.with_records([at_az])
    assert both.networks == ["loopback", "az"]
    assert both.select(network="az") == [at_az] and both.at_network("loopback").records == results.records
    assert Record.from_dict(at_az.to_dict()) == at_az


def test_a_run_at_two_networks_reports_the_first_and_compares_them(tmp_path: Path, fixture_report: Path) -> None:
    from bench.report import write_report
    from bench.results import load_results

    fixture = load_results(Path(__file__).parent / "fixtures" / "results-small.json")
    az = {**NAMED["az"].as_dict(), "measured": {"redis": {"p50_us": 2050.0, "added_p50_us": 2010.0}}}
    slower = [
        replace(r, network=az, values={**r.values, "tasks_per_s": r.values["tasks_per_s"] / 4})
        if "tasks_per_s" in r.values
        else replace(r, network=az)
        for r in fixture.records
        if r.scenario in ("enqueue", "throughput")
    ]
    counted = Record(
        "celery", "shipped", "round_trips", {"task": "noop", "processes": 2}, 0, network=az,
        values={"enqueue_redis": 1.0, "enqueue_postgres": 0.0, "task_redis": 3.0, "task_postgres": 7.0},
    )  # fmt: skip
    results = replace(fixture.with_records([*slower, counted]), run={**fixture.run, "networks": ["loopback", "az"]})
    md_path, _ = write_report(results, tmp_path)
    text = md_path.read_text()
    assert "## Sensitivity to the network" in text and "Redis +2.01 ms" in text
    assert "Celery shipped: per enqueue 1 to Redis; per task 3 to Redis, 7 to PostgreSQL" in text
    assert (tmp_path / "network-sensitivity.png").exists()
    # The main part is the first network's: no az record in its figures (the summary of loopback alone is the same:
    # the fixture's own report, written once per session).
    main_part = text[: text.index("## Sensitivity to the network")]
    # The Answer on where the ranking changes between the networks is the one addition.
    ranking = text.index("**Where does the ranking change with the network?**")
    main_part = main_part[:ranking] + main_part[main_part.index("## FAQ", ranking) :]
    assert main_part.count("tasks/s") == (fixture_report / "report.md").read_text().count("tasks/s")
