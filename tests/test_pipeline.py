"""The whole pipeline on every backend, as a user runs it: ``python -m bench`` with a tiny (smoke) workload.

Real workers, a private Redis, a real SMTP sink; the results file must hold every scenario with real numbers,
and every task of the fault scenarios must be accounted for. Also the command line's answers to bad input.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.backends import load_backends
from bench.faults.outcomes import OUTCOMES
from bench.results import load_results
from bench.scenarios.throughput import warm_rate_is_lower_bound
from bench.services import postgres_available
from tests.conftest import empty_run_results

REPO = Path(__file__).resolve().parent.parent
PERFORMANCE = ("enqueue", "throughput", "latency", "idle_pickup", "resources", "channel_overhead")


def run_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS`` from the repository root, as ``nox -s bench -- ARGS`` runs it."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.slow
@pytest.mark.timeout(1200)  # the first one waits for the smoke run (tests/conftest.py: started at collection)
@pytest.mark.parametrize("name", sorted(load_backends()))
def test_smoke_run_measures_every_scenario(name: str, smoke_run: Path) -> None:
    tmp_path = smoke_run
    results = load_results(tmp_path / "results.json")
    assert results.run["finished_at"] and results.environment["git_commit"] is not None
    assert results.environment["redis_version"]
    # The database every session of this backend used, as Django itself reported it after migrating.
    database = results.environment["database"]
    assert database["engine"] == results.run["database"] in ("postgresql", "sqlite")
    assert {d["vendor"] for key, d in database["django"].items() if key.startswith(f"var-{name}-")} == {
        database["engine"]
    }
    assert results.backends[name]["profiles"]["shipped"]["settings"], "BENCH_SETTINGS must be recorded"
    failed = [(r.scenario, r.params, r.error) for r in results.records if r.status != "ok" and r.backend == name]
    assert not failed
    # Each backend beside the floor of its own broker (the database floor for a database queue).
    for backend in (name, load_backends()[name].floor or "redis-baseline"):
        measured = {r.scenario for r in results.select(backend=backend)}
        assert set(PERFORMANCE) <= measured, f"{backend}: missing {set(PERFORMANCE) - measured}"
    assert {"retries", "faults"} <= {r.scenario for r in results.select(backend=name)}

    # Numbers are real measurements, not placeholders.
    backlog = results.select(backend=name, scenario="throughput", params={"mode": "backlog"})[0]
    assert backlog.values["completed"] == backlog.values["tasks"] > 0 and backlog.values["tasks_per_s"] > 0
    # The backlog window says what sized it: the warm-up's rate, x 2.5 when that was the rate the producer enqueued
    # at (the workers kept up: a lower bound), else x 1.5 (a retry: its own short window's rate x 1.5).
    warm, enqueued = backlog.values["warm_rate"], backlog.values["warm_enqueue_rate"]
    assert warm > 0 and enqueued > 0
    if backlog.values["attempts"] == 1:
        assert backlog.values["sized_rate"] == warm
        assert backlog.values["sized_margin"] == (2.5 if warm_rate_is_lower_bound(warm, enqueued) else 1.5)
    resources = results.select(backend=name, scenario="resources")[0]
    assert resources.values["rss_idle_bytes"] > 10 * 2**20 and resources.values["cpu_s_per_1000"] > 0
    for latency in results.select(backend=name, scenario="latency"):
        assert latency.values["completed"] == latency.values["sent"] and latency.histograms["to_start_ns"]

    # Done is when the backend confirmed it (its C event), for every backend and the Redis floor; every throughput
    # figure comes from a steady window at least as long as the preset's minimum; idle pickup is a sample list.
    for backend in (name, load_backends()[name].floor or "redis-baseline"):
        for record in results.select(backend=backend, scenario="throughput"):
            values = record.values
            assert values["completion"] == "confirmed", (backend, record.params)
            if record.status == "too_short":  # allowed for the floor only (the backend's records are all ok above)
                assert values["steady_s"] < values["min_steady_s"] and (values["attempts"] >= 2 or values["capped"])
                continue
            assert values["steady_s"] >= values["min_steady_s"] > 0
            assert values["confirmed_tasks_per_s"] == values["tasks_per_s"] > 0 and values["body_tasks_per_s"] > 0
            assert values["lag_count"] == values["completed"] and 0 <= values["lag_p50_ns"] <= values["lag_max_ns"]
            print(
                f"{backend} {record.params['task']}/{record.params['mode']}: F->C lag p50 "
                f"{values['lag_p50_ns'] / 1e6:.2f} ms, p99 {values['lag_p99_ns'] / 1e6:.2f} ms, "
                f"max {values['lag_max_ns'] / 1e6:.2f} ms; body {values['body_tasks_per_s']:.0f}/s, "
                f"confirmed {values['tasks_per_s']:.0f}/s"
            )
        for record in results.select(backend=backend, scenario="idle_pickup"):
            assert len(record.samples["pickup_ns"]) == results.run["preset_params"]["idle_pickup_samples"]
        for record in results.select(backend=backend, scenario="resources"):
            assert record.values["load_samples"] == len(record.samples["rss_load_bytes"]) >= 3

    # The database statements per noop task, counted once per backend after the timed sessions (PostgreSQL's log).
    counted = results.select(backend=name, scenario="db_statements")
    if postgres_available() is None:
        assert [r.status for r in counted] == ["ok"], [(r.status, r.error) for r in counted]
        values = counted[0].values
        # An idle window is subtracted (pollers): a backend that asks nothing per task may come out a hair below 0.
        assert values["tasks"] > 0 and values["statements"] > -1 and values["write_commits"] > -1
        print(f"{name}: {values['statements']} statements, {values['write_commits']} write commits per noop task")
    else:
        assert not counted

    # Faults: the premise proven at the fault instant (every worker process inside a gated task, waiting tasks held
    # by the broker or a worker), then every task id in exactly one outcome, matching the counts.
    kinds = {r.params["kind"] for r in results.select(backend=name, scenario="faults")}
    assert {"sigkill", "sigterm", "redis_restart", "redis_down_enqueue", "transaction"} <= kinds
    for record in results.select(backend=name, scenario="faults"):
        if record.accounting is None:
            continue
        if record.params["kind"] != "long_delay":  # the faults on the gated mixed workload
            premise = record.notes["premise"]
            assert premise["met"] and premise["seen"]["running"] == {"running": 1}, premise
            assert record.values["at_risk"] == record.values["tasks"]
        ids = [p for bucket in record.accounting.values() for p in bucket]
        assert len(ids) == len(set(ids)) == record.values["tasks"]
        for bucket in OUTCOMES:
            assert len(record.accounting[bucket]) == record.values[bucket]
        for probe in record.accounting["stranded"]:
            assert record.samples["stranded"][probe]["where"] in ("queued", "reserved", "scheduled")
    rolled_back = results.select(
        backend=name, scenario="faults", params={"kind": "transaction", "mode": "on_commit_rollback"}
    )
    assert rolled_back[0].values["enqueued"] is False and rolled_back[0].values["attempts"] == 0
    policy = results.select(backend=name, scenario="retries", params={"task": "flaky_retry", "fail_times": 1})
    assert not policy or policy[0].values["attempts_max"] >= 1

    # The report is generated from the file and opens with the answers.
    report = (tmp_path / "report.md").read_text()
    assert report.index("## Answers") < report.index("## Details")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backends", "beanstalk"], "unknown backend 'beanstalk'; valid backends: celery, djangoq"),
        (["--scenarios", "speed"], "unknown scenario(s): speed; valid: enqueue"),
        (["--profile", "fast"], "unknown profile(s): fast; valid: bare, shipped, tuned, safe"),
        (["--redis-url", "redis://127.0.0.1:1/0", "--quick"], "Redis at redis://127.0.0.1:1/0 is unreachable"),
        # Malformed URLs are rejected before any connection (port 6379 is never contacted).
        (["--redis-url", "localhost:6379"], "malformed Redis URL 'localhost:6379': Redis URL must specify one of"),
        (["--redis-url", "redis://127.0.0.1:6379/cache"], "malformed Redis URL 'redis://127.0.0.1:6379/cache': the"),
        (["--redis-url", "redis://127.0.0.1:port/0"], "malformed Redis URL 'redis://127.0.0.1:port/0': Port"),
        (["--quick", "--preset", "smoke"], "--quick is the preset 'quick': give --quick or --preset smoke, not both"),
        (["--log-level", "loud"], "unknown log level 'LOUD'; valid: DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        (["--processes", "1,two"], "--processes takes comma-separated worker counts, e.g. 1,2,4; got '1,two'"),
        (["--processes", "0"], "--processes: preset key 'processes' must be an integer >= 1, got 0"),
        (
            ["--fault-profiles", "tuned"],
            "--fault-profiles: preset 'full': 'fault_profiles' must list some of bare, shipped, safe",
        ),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args: list[str], message: str, tmp_path: Path) -> None:
    done = run_bench(*args, "--out", str(tmp_path), timeout=120)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "results.json").exists()


@pytest.mark.unit
def test_redis_url_help_says_what_is_flushed() -> None:
    done = run_bench("--help", timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps the help text
    assert "emptied with FLUSHDB" in text and "other databases are left alone" in text and "FLUSHALL" not in text


def run_report(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m bench.report ARGS`` as ``nox -s report -- ARGS`` runs it."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    return subprocess.run(
        [sys.executable, "-m", "bench.report", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.unit
def test_report_of_a_directory(tmp_path: Path) -> None:
    """A run directory stands for its results.json; a directory without one is a one-line error."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in ([str(empty)], ["compare", str(empty), str(empty)]):
        done = run_report(*args)
        assert done.returncode == 2
        message = f"{empty} is a directory without a results.json; give a results file"
        assert done.stderr == f"bench.report: error: {message}\n"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    empty_run_results(run_dir / "results.json")  # this is about the argument, not the content
    done = run_report(str(run_dir))
    assert done.returncode == 0, done.stderr
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()


@pytest.mark.unit
def test_corrupt_results_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 1, "run": {}})[:-5])
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", str(path), "--out", str(tmp_path / "r")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "corrupt results file" in done.stderr and str(path) in done.stderr
    assert not (tmp_path / "r" / "report.md").exists()
