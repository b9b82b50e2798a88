"""Results file I/O: roundtrip, atomic writes, clear errors for bad files, schema versions, queries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench import results as results_mod
from bench import stats
from bench.environment import capture_environment, compare_environments, finish_environment
from bench.results import Record, ResultsError, RunResults, load_results, write_results

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]


def _results(n_reps: int = 2) -> RunResults:
    records = []
    for rep in range(n_reps):
        records.append(
            Record(
                backend="huey",
                profile="shipped",
                scenario="enqueue",
                params={"task": "noop"},
                repetition=rep,
                histograms={"latency_ns": stats.encode(stats.histogram_of([1000, 2000, 3000 + rep]))},
                values={"count": 3},
                started_at="2026-11-25T12:00:00+00:00",
                duration_s=0.5,
            )
        )
    records.append(
        Record(
            backend="celery",
            profile="safe",
            scenario="faults",
            params={"kind": "sigkill"},
            repetition=0,
            accounting={"completed": ["a"], "duplicated": ["b"], "lost": []},
            notes={"exception": "none"},
        )
    )
    records.append(
        Record(
            "dramatiq",
            "shipped",
            "throughput",
            {"task": "noop", "processes": 1},
            0,
            status="failed",
            error="drain timed out",
        )
    )
    return RunResults(
        run={"id": "t", "preset": "quick"}, environment={"python": "3.11"}, backends={}, records=tuple(records)
    )


def test_roundtrip(tmp_path: Path) -> None:
    original = _results()
    path = tmp_path / "deep" / "results.json"
    write_results(path, original)
    loaded = load_results(path)
    assert loaded == original
    assert json.loads(path.read_text())["schema_version"] == results_mod.SCHEMA_VERSION
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # an ordinary file, not mkstemp's private mode


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    r = Record("huey", "shipped", "throughput", {}, 0, values={"tasks_per_s": float("nan")})
    write_results(tmp_path / "r.json", RunResults({}, {}, {}, (r,)))
    assert load_results(tmp_path / "r.json").records[0].values["tasks_per_s"] is None


def test_atomic_write_leaves_previous_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(path, _results())
    before = path.read_bytes()
    bad = Record("huey", "shipped", "enqueue", {"task": object()}, 0)  # not serializable
    with pytest.raises(ResultsError, match="cannot write results file"):
        write_results(path, _results().with_records([bad]))
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temp file left behind


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"no results file at .*nothing\.json"):
        load_results(tmp_path / "nothing.json")


def test_corrupt_file_names_path_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(path, _results())
    path.write_text(path.read_text()[:200])  # truncated, as by a crash without atomic writes
    with pytest.raises(ResultsError) as info:
        load_results(path)
    message = str(info.value)
    assert message.startswith(f"corrupt results file {path}: line ") and " col " in message
    assert "\n" not in message


def test_newer_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    doc = _results().to_dict() | {"schema_version": results_mod.SCHEMA_VERSION + 1}
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="newer than this suite reads"):
        load_results(path)


def test_unknown_old_schema_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(_results().to_dict() | {"schema_version": 0}))
    with pytest.raises(ResultsError, match="can no longer read"):
        load_results(path)


def test_old_schema_is_upgraded_through_the_registered_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A hypothetical version 0 that called the environment "metadata": the hook renames it.
    def upgrade_0(doc: dict) -> dict:
        doc["environment"] = doc.pop("metadata")
        return doc

    monkeypatch.setitem(results_mod.UPGRADES, 0, upgrade_0)
    doc = _results().to_dict()
    doc["metadata"] = doc.pop("environment")
    doc["schema_version"] = 0
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    loaded = load_results(path)
    assert loaded.schema_version == results_mod.SCHEMA_VERSION
    assert loaded.environment == {"python": "3.11"}


def test_missing_keys(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    doc = _results().to_dict()
    del doc["records"][1]["backend"]
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=r"record 1: missing key\(s\) backend"):
        load_results(path)
    path.write_text(json.dumps({"schema_version": 1, "run": {}}))
    with pytest.raises(ResultsError, match="missing key"):
        load_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ResultsError, match="not a results file"):
        load_results(path)


def test_bad_status_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    doc = _results().to_dict()
    doc["records"][0]["status"] = "great"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="record 0: ValueError: record status must be one of"):
        load_results(path)


def test_queries_and_repetition_groups() -> None:
    res = _results(n_reps=3)
    assert len(res.select(backend="huey", scenario="enqueue", params={"task": "noop"})) == 3
    assert res.select(params={"task": "other"}) == []
    assert [r.backend for r in res.select(status="failed")] == ["dramatiq"]
    groups = res.groups(scenario="enqueue")
    assert len(groups) == 1
    (reps,) = groups.values()
    assert [r.repetition for r in reps] == [0, 1, 2]
    merged = stats.merge(r.histograms["latency_ns"] for r in reps)
    assert merged.get_total_count() == 9
    assert res.backend_names == ["huey", "celery", "dramatiq"]


def test_environment_capture_and_comparison() -> None:
    env = finish_environment(capture_environment(REPO, redis_version="7.0.15"))
    assert env["python"] and env["cpu_count"] and env["packages"]["hdrhistogram"]
    assert env["redis_version"] == "7.0.15"
    assert env["load_average_end"] is not None
    assert isinstance(env["git_dirty"], bool)
    assert not [w for w in compare_environments(env, env) if "busy" not in w]
    other = {**env, "cpu_count": 64, "packages": {**env["packages"], "celery": "9.9.9", "zzz-other": "1"}}
    warnings = compare_environments(env, other)
    assert any("core count" in w for w in warnings)
    assert any(w.startswith("celery version differs") for w in warnings)
    assert any("other installed package" in w for w in warnings)


def test_version_1_reference_run_loads_with_its_retry_buckets_renamed() -> None:
    # The first committed reference run is a version-1 file: it must stay readable.
    path = Path(__file__).resolve().parent.parent / "results" / "2026-11-25T13-29-31Z-38ce592" / "results.json"
    assert json.loads(path.read_text())["schema_version"] == 1
    loaded = load_results(path)
    assert loaded.schema_version == results_mod.SCHEMA_VERSION
    retries = [r for r in loaded.records if r.scenario == "retries" and r.accounting is not None]
    faults = [r for r in loaded.records if r.scenario == "faults" and r.accounting is not None]
    assert retries and all("unfinished" in r.accounting and "lost" not in r.accounting for r in retries)
    assert faults and all("lost" in r.accounting for r in faults)  # unclassified: kept as measured
