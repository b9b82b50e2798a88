"""'Redis or RabbitMQ?': a library's backends on two brokers are paired by project, each figure is given as a ratio to
that broker's own floor with the absolute value beside it, per network, with the round trips and the fault outcomes.

The run here is SYNTHETIC (built below, never written to results/): one library on Redis and on RabbitMQ, each
broker's floor, at loopback and at az, where the RabbitMQ publish needs no round trip and the Redis one needs one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import stats
from bench.network import LOOPBACK, NAMED
from bench.report import brokers, readme, write_report
from bench.report.context import SYNTHETIC_PRESET
from bench.results import Record, RunResults, write_results

pytestmark = pytest.mark.unit

AZ = {**NAMED["az"].as_dict(), "measured": {"redis": {"p50_us": 2050.0, "added_p50_us": 2010.0}}}
#: backend → (enqueue p50 µs at loopback, noop tasks/s, round trips per enqueue, per task)
BACKENDS = {
    "lib": (400.0, 150.0, 1.0, 10.0),
    "lib-rabbitmq": (300.0, 200.0, 0.0, 2.0),
    "redis-baseline": (50.0, 12000.0, 1.0, 2.0),
    "amqp-baseline": (75.0, 8000.0, 0.0, 1.0),
}
DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "lib": {"label": "Lib", "api": "native", "broker": "redis", "project": "lib"},
    # No ``project``: as in runs written before it was recorded (the name without "-rabbitmq" says it).
    "lib-rabbitmq": {
        "label": "Lib · RabbitMQ",
        "api": "native",
        "broker": "rabbitmq",
        "floor": "amqp-baseline",
        "not_run": {"faults": "no locate on AMQP yet"},
    },
    "redis-baseline": {"label": "Redis floor", "role": "floor", "broker": "redis"},
    "amqp-baseline": {"label": "AMQP floor", "role": "floor", "broker": "rabbitmq"},
}


def _run() -> RunResults:
    records = []
    for network, rtt_ms in ((LOOPBACK.as_dict(), 0.0), (AZ, 2.0)):
        for backend, (p50_us, rate, per_enqueue, per_task) in BACKENDS.items():
            hist = stats.histogram_of([(p50_us + per_enqueue * rtt_ms * 1e3) * 1e3] * 50)
            records.append(
                Record(backend, "shipped", "enqueue", {"task": "noop"}, 0,
                       histograms={"latency_ns": stats.encode(hist)}, network=network)
            )  # fmt: skip
            tasks_per_s = 1 / (1 / rate + per_task * rtt_ms / 1e3 / 2)
            records.append(
                Record(backend, "shipped", "throughput", {"task": "noop", "processes": 2, "mode": "backlog"}, 0,
                       values={"tasks_per_s": tasks_per_s}, network=network)
            )  # fmt: skip
            if network["proxied"] and backend in ("lib", "lib-rabbitmq"):
                upstream = "amqp" if backend == "lib-rabbitmq" else "redis"
                counted = {f"enqueue_{upstream}": per_enqueue, f"task_{upstream}": per_task, "enqueue_postgres": 0.0}
                records.append(Record(backend, "shipped", "round_trips", {"task": "noop"}, 0, values=counted,
                                      network=network))  # fmt: skip
    # A worker SIGKILL on Redis only: the RabbitMQ backend of this run does not run faults (its not_run says why).
    records.append(
        Record("lib", "shipped", "faults", {"kind": "sigkill"}, 0, values={"tasks": 4, "at_risk": 4, "gone": 1,
               "completed": 3}, accounting={"completed": ["a", "b", "c"], "gone": ["d"], "stranded": [],
               "duplicated": [], "failed": []})
    )  # fmt: skip
    run = {
        "id": "synthetic-brokers",
        "preset": SYNTHETIC_PRESET,
        "profiles": ["shipped"],
        "repetitions": 1,
        "networks": ["loopback", "az"],
        "started_at": "2026-12-06T00:00:00+00:00",
        "finished_at": "2026-12-06T00:10:00+00:00",
    }
    environment = {"cpu_model": "Synthetic CPU", "cpu_count": 2, "rabbitmq_version": "3.10.8", "redis_version": "7"}
    return RunResults(run, environment, DESCRIPTIONS, tuple(records))


def test_a_library_on_two_brokers_is_one_pair_and_floors_are_not() -> None:
    results = _run()
    assert brokers.broker_pairs(results) == [{"redis": "lib", "rabbitmq": "lib-rabbitmq"}]
    assert brokers.project_of(results, "lib-rabbitmq") == "lib"  # from the name: no project recorded


def test_each_figure_is_a_ratio_to_its_own_brokers_floor_at_each_network() -> None:
    (line,) = brokers.broker_lines(_run())
    # Loopback: 300 µs ÷ the AMQP floor's 75 µs = 4×; 400 µs ÷ the Redis floor's 50 µs = 8×; 300 ÷ 400 = 0.75.
    assert "at loopback: enqueue p50 300 µs (4.0× its floor) on RabbitMQ vs 400 µs (8.0× its floor) on Redis" in line
    assert "RabbitMQ ÷ Redis 0.75×" in line
    # az: the Redis publish pays its round trip (2.4 ms), the RabbitMQ one none (300 µs): 0.125×.
    assert "at az: enqueue p50 300 µs" in line and "vs 2.40 ms" in line and "RabbitMQ ÷ Redis 0.12×" in line
    assert "broker round trips 0 per enqueue, 2 per task on RabbitMQ vs 1 per enqueue, 10 per task on Redis" in line
    assert "noop throughput 200 tasks/s (2.5 % of its floor) on RabbitMQ vs 150 tasks/s (1.2 % of its floor)" in line


def test_faults_say_why_they_are_missing_on_a_broker() -> None:
    results = _run()
    (line,) = brokers.broker_lines(results)
    assert (
        "worker SIGKILL on RabbitMQ not measured (no locate on AMQP yet), on Redis shipped: gone 1 of 4 at risk" in line
    )
    # A run that ran no faults says nothing about them (not measured for every backend alike).
    results = RunResults(results.run, results.environment, results.backends,
                         tuple(r for r in results.records if r.scenario != "faults"))  # fmt: skip
    assert "SIGKILL" not in brokers.broker_lines(results)[0]


def _with_broker_faults() -> RunResults:
    results = _run()
    described = {
        **DESCRIPTIONS,
        "lib-rabbitmq": {k: v for k, v in DESCRIPTIONS["lib-rabbitmq"].items() if k != "not_run"},
    }
    empty = {"completed": [], "duplicated": [], "stranded": [], "failed": [], "gone": []}
    faults = [
        Record("lib", "shipped", "faults", {"kind": "redis_restart", "persistence": "none"}, 0,
               values={"tasks": 2, "at_risk": 2, "gone": 2}, accounting={**empty, "gone": ["x", "y"]}),
        Record("lib-rabbitmq", "shipped", "faults", {"kind": "rabbitmq_restart"}, 0,
               values={"tasks": 2, "at_risk": 2, "completed": 2}, accounting={**empty, "completed": ["x", "y"]}),
        Record("lib-rabbitmq", "shipped", "faults", {"kind": "publish_during_restart"}, 0,
               values={"calls": 10, "raised": 3, "accepted": 7, "tasks": 7, "completed": 6, "gone": 1},
               accounting={**empty, "completed": list("abcdef"), "gone": ["g"]}),
    ]  # fmt: skip
    return RunResults(results.run, results.environment, described, (*results.records, *faults))


def test_the_fault_outcomes_of_each_broker_side_by_side(tmp_path: Path) -> None:
    """Restart and publishing through a restart, from the records of each broker's own fault kinds; the README's
    broker-faults region says the same."""
    results = _with_broker_faults()
    (line,) = brokers.broker_lines(results)
    restart = "broker restart on RabbitMQ shipped: gone 0 of 2 at risk, on Redis (without persistence) shipped: gone 2"
    assert restart in line
    assert "worker SIGKILL on RabbitMQ not in this run, on Redis shipped: gone 1 of 4 at risk" in line
    assert (
        "enqueue calls while RabbitMQ restarts: shipped: 10 calls, 3 raised; of the 7 that returned, **1 lost" in line
    )
    # The README's table: a row per fault, a column per backend; a fault not run on a broker is '–'.
    header, rows = brokers.fault_table(results)
    assert header == ["fault", "Lib · Redis", "Lib · RabbitMQ"]
    assert rows == [
        ["worker SIGKILL", "shipped: gone 1/4", "–"],
        ["broker restart", "shipped, without persistence: gone 2/2", "shipped: gone 0/2"],
        [
            "publishing while RabbitMQ restarts",
            "–",
            "shipped: 10 calls, 3 raised; of the 7 that returned, **1 lost silently**",
        ],
    ]
    write_results(tmp_path / "results" / "synthetic-faults" / "results.json", results)
    page = "x\n<!-- generated: broker-faults from results/synthetic-faults -->\n<!-- end generated: broker-faults -->\n"
    rendered = readme.render(page, tmp_path / "results")
    assert "| fault | Lib · Redis | Lib · RabbitMQ |" in rendered
    assert "| broker restart | shipped, without persistence: gone 2/2 | shipped: gone 0/2 |" in rendered
    # Only the Redis backend ran a fault: its row alone, "–" where the RabbitMQ one did not run it.
    assert brokers.fault_table(_run()) == (
        ["fault", "Lib · Redis", "Lib · RabbitMQ"],
        [["worker SIGKILL", "shipped: gone 1/4", "–"]],
    )


def test_the_report_answers_and_the_readme_region_says_the_same(tmp_path: Path) -> None:
    results = _run()
    md_path, _ = write_report(results, tmp_path / "report")
    text = md_path.read_text()
    assert f"**{brokers.QUESTION}**" in text
    assert "RabbitMQ ÷ Redis 0.75×" in text  # the report's main part: its first network, loopback
    write_results(tmp_path / "results" / "synthetic-brokers" / "results.json", results)
    page = "x\n<!-- generated: brokers from results/synthetic-brokers -->\n<!-- end generated: brokers -->\n"
    rendered = readme.render(page, tmp_path / "results")
    # The README: where each figure favours a broker (RabbitMQ ÷ Redis), then the figures per network as a table.
    assert (
        "- **Lib** (shipped; RabbitMQ ÷ Redis in brackets) — enqueue p50: faster on RabbitMQ at loopback (0.75×), az "
        "(0.12×); noop tasks/s: higher on RabbitMQ at loopback (1.3×), az (2.4×). Broker round trips: 0 per enqueue, "
        "2 per task on RabbitMQ vs 1 per enqueue, 10 per task on Redis." in rendered
    )
    assert "| library | network | enqueue p50 on Redis | on RabbitMQ | tasks/s on Redis | on RabbitMQ |" in rendered
    assert "| Lib | az | 2.40 ms (1.2× floor) | 300 µs (4.0× floor) | 60.0 tasks/s (12 % of floor) |" in rendered


def test_a_run_without_a_library_on_two_brokers_has_no_broker_answer(tmp_path: Path) -> None:
    results = _run()
    alone = RunResults(
        results.run,
        results.environment,
        {k: v for k, v in DESCRIPTIONS.items() if k != "lib-rabbitmq"},
        tuple(r for r in results.records if r.backend != "lib-rabbitmq"),
    )
    assert brokers.broker_lines(alone) == []
    md_path, _ = write_report(alone, tmp_path)
    assert brokers.QUESTION not in md_path.read_text()


def test_the_committed_readme_has_the_brokers_region() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "<!-- generated: brokers from results/" in text and "<!-- end generated: brokers -->" in text
    # The fault comparison is written from a committed fault run of both libraries on both brokers.
    assert "<!-- generated: broker-faults from results/" in text and "| fault | Celery · Redis |" in text
