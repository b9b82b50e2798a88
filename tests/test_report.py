"""Report generation from the committed SYNTHETIC fixture, run comparison, and the HTML in headless Chromium."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench import stats
from bench.faults.outcomes import OUTCOMES
from bench.report import answers as answers_module
from bench.report import content, derived, write_report
from bench.report.__main__ import main
from bench.report.compare import compare_runs, render_text
from bench.report.facts import (
    OUTCOME_WORDS,
    CategoryOutcome,
    RuleNotes,
    down_enqueue,
    fault_outcome,
    premise_not_met,
)
from bench.report.figures import FIGURES
from bench.report.numbers import due_text, duration_ns, ratio_text, seconds_text
from bench.results import Record, RunResults, load_results, write_results
from tests.conftest import empty_run_results

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "results-small.json"


@pytest.fixture(scope="module")
def fixture_results() -> RunResults:
    return load_results(FIXTURE)


#: ``write_report(results_path, out_dir)``, as the harness calls it at the end of a run.
WRITE_FROM_PATH = "import sys; from pathlib import Path; from bench.report import write_report; " + (
    "write_report(Path(sys.argv[1]), Path(sys.argv[2]))"
)


@pytest.fixture(scope="module")
def report_from_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Path]]:
    """The fixture's report written again in another process, from the file (another hash seed, too): call it for
    the folder once written. Started at once, so it runs beside the in-process report (``report_dir``)."""
    out = tmp_path_factory.mktemp("report-from-path")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITE_FROM_PATH, str(FIXTURE), str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def written() -> Path:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        return out

    yield written
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def report_dir(report_from_path: Callable[[], Path], fixture_report: Path) -> Path:
    """The fixture's report, written in this process once per session (tests/conftest.py ``fixture_report``;
    ``report_from_path`` is requested first, to start it beside it)."""
    return fixture_report


def test_fixture_is_synthetic_and_up_to_date(fixture_results: RunResults) -> None:
    assert fixture_results.run["preset"] == "synthetic-fixture"
    spec = importlib.util.spec_from_file_location("make_fixture", REPO / "tests" / "fixtures" / "make_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Histograms are compared by content: their compressed encoding depends on the zlib the interpreter was built with.
    assert _decoded(module.build()) == _decoded(fixture_results), "run tests/fixtures/make_fixture.py to regenerate it"


def _value_counts(histogram: Any) -> list[tuple[int, int]]:
    """Each recorded bucket's lowest value and count, read from the counts array: hdrh's recorded iterator visits
    every sub-bucket in Python, ~30x slower for the same pairs."""
    counts = histogram.counts
    return [(histogram.get_value_from_index(i), c) for i in range(histogram.counts_len) if (c := counts[i])]


def _rounded(value: object) -> object:
    """Floats to 9 significant digits (Python 3.12's float sum() is compensated: last-bit differences), deeply."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value


def _decoded(results: RunResults) -> object:
    """The records with every histogram replaced by its (value, count) pairs, floats rounded."""
    out = []
    for record in results.records:
        data = record.to_dict()
        data["histograms"] = {name: _value_counts(stats.decode(h)) for name, h in record.histograms.items()}
        out.append(data)
    return _rounded([results.run, results.environment, results.backends, *out])


def _answers(md: str) -> str:
    return md[md.index("## Answers") : md.index("## FAQ")]


def test_sections_in_reading_order(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    assert "SYNTHETIC TEST DATA" in md.splitlines()[2]
    assert md.index("![Scorecard](scorecard.png)") < md.index("- [Answers](#answers)") < md.index("## Answers")
    headings = [
        "## Answers",
        "## FAQ",
        "### What happens if Redis goes down?",
        "### Can I retry failed tasks?",
        "## Details",
        "### Verification",
        "## Settings per backend and profile",
        "## Environment",
        "## Method",
    ]
    positions = [md.index(h) for h in headings]
    assert positions == sorted(positions)
    answers = _answers(md)
    for question in (
        "enqueues fastest",
        "most tasks done",
        "latency lowest under load",
        "Do I need Redis?",
        "keeps my tasks when workers die",
        "retries happen",
        "Redis goes down",
    ):
        assert question in answers
    for scenario in (
        "### Enqueue latency",
        "#### Enqueue microbenchmark",
        "### Throughput",
        "### End-to-end latency",
        "### Idle pickup",
        "### Resources",
        "### Measurement channel",
        "### Retries",
        "### Faults",
        "### Scenario future_scenario",
    ):
        assert scenario in md
    # Status records are not measurements: no section of their own.
    assert "### Scenario verification" not in md and "### Scenario session" not in md


def test_key_numbers_match_an_independent_computation(report_dir: Path, fixture_results: RunResults) -> None:
    md = (report_dir / "report.md").read_text()
    reps = fixture_results.select(backend="huey", scenario="enqueue", profile="shipped", params={"task": "noop"})
    merged = stats.percentiles(stats.merge(r.histograms["latency_ns"] for r in reps))
    row = next(line for line in md.splitlines() if line.startswith("| Huey |") and "| 900 |" in line)
    assert row.split(" | ")[1] == duration_ns(merged.p50)
    assert row.split(" | ")[3] == duration_ns(merged.p99)
    answers = _answers(md)
    # The ratio to the floor, repetition by repetition, computed here independently of bench.report.derived.
    floor = fixture_results.select(backend="redis-baseline", scenario="enqueue", params={"task": "noop"})
    p50 = {r.repetition: stats.percentiles(r.histograms["latency_ns"]).p50 for r in reps}
    floor_p50 = {r.repetition: stats.percentiles(r.histograms["latency_ns"]).p50 for r in floor}
    ratio = statistics.median(p50[k] / floor_p50[k] for k in p50)
    huey_p50 = duration_ns(statistics.median(p50.values()))
    assert (
        "shipped, p50 of one `noop` enqueue call, on Synthetic CPU @ 0 GHz, 2 cores: "
        f"**Huey** {ratio_text(ratio)} floor ({huey_p50}); Dramatiq " in answers
    )
    assert re.search(r"Dramatiq 2\.\d× floor \(\d+\.\d µs; vs Huey: 1\.\dx, p(<|=)0\.0\d*\)", answers)
    assert "floors (not ranked): Database floor 1" in answers and "Redis floor 25." in answers
    assert "2 worker processes (= the machine's 2 cores), on Synthetic CPU @ 0 GHz, 2 cores: **Huey**" in answers
    # The database-broker backend's ratio is to its own floor (the database floor), not to Redis's.
    db = fixture_results.select(backend="dbtasks", scenario="throughput", params={"processes": 2})
    db_floor = fixture_results.select(backend="db-baseline", scenario="throughput", params={"processes": 2})
    share = statistics.median(
        a.values["tasks_per_s"] / b.values["tasks_per_s"]
        for a, b in zip(
            sorted(db, key=lambda r: r.repetition), sorted(db_floor, key=lambda r: r.repetition), strict=True
        )
    )
    assert f"django.tasks DB (synthetic) {share * 100:.0f} % of floor (" in answers
    assert "django-q2 200 tasks/s" in answers  # the producer could not keep 800/s
    assert "at 800/s saturated: sent only" in answers
    # The unverified backend is shown as failed and never ranked.
    assert "**Failed verification (shown, never ranked):** BrokenQ (synthetic)" in md
    assert "BrokenQ" not in answers
    assert re.search(r"\| BrokenQ \(synthetic\) \| shipped \| \*\*failed verification\*\* — invoice_email", md)
    assert "session crashed (processes=1): BenchError: producer exited with status 1" in md
    # A failed measurement is listed with its reason.
    assert "12 of 1000 tasks did not finish in time" in md


def test_scorecard_rows_groups_and_tones(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    card = md[md.index("| backend | Enqueue [1]") : md.index("- [Answers](#answers)")]
    lines = card.splitlines()
    groups = [line for line in lines if line.startswith("| *")]
    assert [g.split("*")[1] for g in groups] == [
        "native API · Redis broker",
        "django.tasks · database broker",
        "other backends",
        "floors (raw broker loops, not ranked)",
    ]
    huey = next(line for line in lines if line.startswith("| Huey |")).split(" | ")
    assert huey[1].startswith("🟢 1.") and "floor" in huey[1]  # fastest enqueue: good
    dramatiq = next(line for line in lines if line.startswith("| Dramatiq |")).split(" | ")
    assert dramatiq[4].startswith("⚪ premise not met")  # never ranked, shown as such
    celery = next(line for line in lines if line.startswith("| Celery |")).split(" | ")
    assert celery[4] == "🟡 gone 0/16 · 10 stranded (safe: gone 0/16)"  # stranded only: middling
    # Scheduled past the safe profile's redelivery timeout: run twice in safe is the finding.
    assert celery[9] == "🟢 ran once 2/2 (safe: ran once 0/2 · 2 dup)"
    assert celery[10] == "🟢 ran before commit · rolled-back task ran (on_commit fixed both)"
    djangoq = next(line for line in lines if line.startswith("| django-q2 |")).split(" | ")
    assert djangoq[4] == "🔴 gone 7/16 · 2 stranded · 2 failed (safe: gone 7/16 · 2 stranded)"
    assert djangoq[8] == "🟡 gone 0/16 · 2 failed (safe: gone 0/16)"  # recorded failed only: middling
    assert huey[10] == "🔴 ran before commit · rolled-back task ran (on_commit did not fix it)"
    assert next(line for line in lines if line.startswith("| Redis floor |")).split(" | ")[1] == "⚪ 25.4 µs (floor)"
    # One footnote per distinct caveat: the outcome fault columns share theirs.
    assert (
        "| SIGKILL [4] | SIGTERM [4] | Redis restart [4] | Redis restart, AOF [4] | Redis crash, AOF [4] | "
        "Scheduled 15 s ahead [5] | In a transaction [6] | Retries [7] |" in card
    )
    assert "[4] shipped profile (library defaults): tasks gone" in card
    assert "failed (recorded as failed by the library)" in card
    assert "(on SQLite, the default database)" in card


def test_fault_answers_per_fault_with_premise_window_and_shortened_timeouts(report_dir: Path) -> None:
    answers = _answers((report_dir / "report.md").read_text())
    faults = answers[answers.index("**Which backend keeps my tasks") : answers.index("**Enqueue inside a transaction")]
    kill = next(line for line in faults.splitlines() if line.startswith("- **worker SIGKILL**, shipped"))
    # Short: the window in the head, the premise once (in the caveat), the rule's full text as a footnote.
    assert kill.startswith("- **worker SIGKILL**, shipped (window 12 s after the fault): ")
    assert (
        "Celery: gone 0 of 16 at risk, 10 stranded (due in ~3,600 s, visibility timeout [a]); Huey: gone 2 of 16 "
        "at risk; django-q2: gone 7 of 16 at risk, 2 stranded (due in ~30 s, scheduler every 30 s), 2 failed "
        "(recorded by the library); watched 120 s more: 2 came back within 32 s of the fault" in kill
    )
    assert "Dramatiq: **premise not met**, not ranked (0 of 10 waiting tasks still in Redis" in kill
    assert faults.count("every worker process inside a gated task, 10 tasks waiting in Redis") == 1
    assert faults.count("[a] visibility_timeout=3600 s after the fetch, then the next restore of unacked") == 1
    safe = next(line for line in faults.splitlines() if line.startswith("- **worker SIGKILL**, safe"))
    # The shortened timeouts stand in the sentence that depends on them.
    assert (
        "Celery (SHOP_FAST_FAULTS: broker_transport_options.visibility_timeout 10 instead of 3600): gone 0 of 16"
        in safe
    )
    assert (
        "Dramatiq (SHOP_FAST_FAULTS: heartbeat_timeout 3000 instead of 60000): gone 0 of 16 at risk, 1 duplicated"
        in safe
    )
    # The new kinds under their human labels; a 0 s due time is 'due now', never nanoseconds.
    crash = next(
        line for line in faults.splitlines() if line.startswith("- **Redis crash (SIGKILL, AOF everysec)**, s")
    )
    assert "Huey: gone 0 of 16 at risk, 2 stranded (due now, schedule)" in crash
    delay = next(
        line
        for line in faults.splitlines()
        if line.startswith("- **scheduled 15 s ahead (beyond the safe profile's shortened redelivery timeouts)**, safe")
    )
    assert "0 of 2 ran once, **2 ran more than once** (up to 2 runs)" in delay
    assert "django-q2: 0 of 2 ran once, 2 stranded (due now, scheduler every 30 s)" in delay
    assert not re.search(r"\d ns\b", faults) and "~0" not in faults
    # Never a sum over faults.
    assert " of 64 " not in answers


def test_every_fault_outcome_is_counted_in_the_details(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    details = md[md.index("### Faults") : md.index("## Settings per backend")]
    header = next(line for line in details.splitlines() if line.startswith("| backend | profile | fault |"))
    for outcome in OUTCOMES:  # every outcome the harness classifies has its column
        assert f" {OUTCOME_WORDS[outcome].split(' (')[0]} |" in header
    row = next(line for line in details.splitlines() if line.startswith("| django-q2 | shipped | worker SIGKILL |"))
    cells = row.split(" | ")
    assert cells[3:10] == [
        "16",
        "16",
        "5",
        "0",
        "2 (delayed 2/2; due in ~30 s, scheduler every 30 s)",
        "2 (retrying 2/2)",
        "7 (running 2/2, waiting 5/10)",
    ]
    assert sum(int(c.split(" ")[0]) for c in cells[5:10]) == int(cells[3])  # each task in exactly one outcome
    assert "watched 120 s more: 2 came back within 32 s of the fault" in row
    assert "premise proven: running: 2 running; waiting: 10 queued" in row
    assert "| Dramatiq | shipped | worker SIGKILL | 0 of 10 waiting tasks still in Redis" in details
    assert "saw running: 1 running, 1 finished; waiting: 10 finished |" in details
    # The rule's full text once, in the caption; the rows refer to it by letter.
    assert details.count("visibility_timeout=3600 s after the fetch") == 1
    assert "Redis crash (SIGKILL, AOF everysec)" in details and "scheduled 15 s ahead" in details
    # FAQ: the full verdicts, rules as notes after the list.
    faq = md[md.index("## FAQ") : md.index("## Details")]
    assert (
        "**Celery** (shipped): worker SIGKILL: gone 0 of 16 at risk, 10 stranded (running 2/2, waiting 8/10; due in "
        "~3,600 s, visibility timeout [a]), 0 failed (recorded by the library), 0 duplicated" in faq
    )
    assert "When stranded tasks come back: [a] visibility_timeout=3600 s after the fetch" in faq


def test_transactions_answer_and_table(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    answers = _answers(md)
    tx = answers[answers.index("**Enqueue inside a transaction: which backends ran the task before the commit") :]
    tx = tx[: tx.index("*Caveat:*") + 600]
    assert (
        "- **Celery** (shipped, safe): late commit: ran **before** the commit (2 attempts, succeeded); rollback: "
        "**task ran** (raised); on_commit fixed both" in tx
    )
    assert "- **Dramatiq** (shipped, safe): late commit: ran after the commit (succeeded)" in tx
    assert "on_commit did **not** fix it: the rolled-back task was still enqueued and ran" in tx
    assert "Measured on SQLite, the default database; the outcome depends on the database engine" in tx
    assert "a task that started before the commit may still succeed" in tx
    details = md[md.index("### Faults") : md.index("## Settings per backend")]
    assert (
        "| Celery | shipped | enqueued inside the transaction, commit 1.0 s later | yes | yes | 2 | yes | 1 | yes |"
        in (details)
    )
    assert "| Celery | shipped | enqueued with on_commit, rolled back | no | no | 0 | no | 0 | no | – |" in details


def test_database_named_from_the_environment(fixture_results: RunResults) -> None:
    env = {**fixture_results.environment, "database": {"vendor": "postgresql", "version": "16.4"}}
    ctx = content.make_context(replace(fixture_results, environment=env))
    assert answers_module.database_text(ctx) == "postgresql 16.4"
    assert "SQLite" not in answers_module.transaction_caveat(ctx)


def test_throughput_caveat_says_what_this_run_left_out(fixture_results: RunResults) -> None:
    """The presets trim shop-task throughput (quick) and the other process counts (both): the caveat says whether
    this run has them, from its records."""
    records = fixture_results.records
    assert {r.params.get("processes") for r in records if r.scenario == "throughput"} > {2}
    noop = next(r for r in records if r.scenario == "throughput" and r.params.get("processes") == 2)
    shop = replace(noop, params={**noop.params, "task": "send_invoice_email", "mode": "concurrent"})
    with_shop = replace(fixture_results, records=[*records, shop])
    full = answers_module.answer_throughput(content.make_context(with_shop)).caveat
    assert "real shop tasks (details)" in full and "other counts in the details" in full
    trimmed = [
        r
        for r in records
        if r.scenario != "throughput" or (r.params.get("task"), r.params.get("processes")) == ("noop", 2)
    ]
    quick = answers_module.answer_throughput(content.make_context(replace(fixture_results, records=trimmed))).caveat
    assert "real shop tasks (the full preset measures them)" in quick
    assert "other counts not measured (--processes 1,2,4)" in quick


def test_enqueue_caveat_names_the_microbench_only_when_it_ran(fixture_results: RunResults) -> None:
    records = fixture_results.records
    assert any(r.scenario == "enqueue_microbench" for r in records)
    with_it = answers_module.answer_enqueue(content.make_context(fixture_results)).caveat
    assert "p99 and a pytest-benchmark cross-check are in the details" in with_it
    without = [r for r in records if r.scenario != "enqueue_microbench"]  # the quick preset
    caveat = answers_module.answer_enqueue(content.make_context(replace(fixture_results, records=without))).caveat
    assert "Other task types and p99 are in the details" in caveat and "pytest-benchmark" not in caveat


def test_rules_said_once_and_premise_problems() -> None:
    heartbeat = (
        "heartbeat_timeout=60000 ms after the worker's last heartbeat, then the next queue maintenance "
        "(maintenance_chance=1000 per million broker commands; of a running worker)"
    )
    stranded = {
        "a": {"where": "reserved", "returns_in_s": 43.2, "rule": heartbeat},
        "b": {"where": "scheduled", "returns_in_s": 43.4, "rule": heartbeat + "; and its eta"},
    }
    record = Record(
        "dramatiq",
        "shipped",
        "faults",
        {"kind": "sigkill"},
        0,
        values={"at_risk": 2, "stranded_returns_in_s_min": 43.2, "stranded_returns_in_s_max": 43.4},
        samples={"stranded": stranded},
        accounting={o: (["a", "b"] if o == "stranded" else []) for o in OUTCOMES},
        notes={"stranded_rule": "; ".join([heartbeat, heartbeat, heartbeat + "; and its eta"])},
    )
    o = fault_outcome(record)
    assert o is not None and o.stranded_rule == heartbeat + "; and its eta"
    notes = RuleNotes()
    assert (
        o.verdict(notes, short=True)
        == "gone 0 of 2 at risk, 2 stranded (due in ~43 s, heartbeat timeout [a] + its eta)"
    )
    assert notes.lines() == [f"[a] {heartbeat}"]
    unmet = replace(
        record,
        status="premise_not_met",
        error="1 waiting task(s) had already started",
        notes={
            "premise": {
                "met": False,
                "seen": {"waiting": {"finished": 1}},
                "problems": ["1 waiting task(s) had already started"],
            }
        },
    )
    assert premise_not_met(unmet) == "1 waiting task(s) had already started; saw waiting: 1 finished"
    assert fault_outcome(unmet) is None


def test_profiles_answer_compares_with_shipped(report_dir: Path) -> None:
    answers = _answers((report_dir / "report.md").read_text())
    celery = next(line for line in answers.splitlines() if line.startswith("- **Celery**: enqueue p50: bare "))
    assert re.search(r"bare \d+ µs \(\d\.\d× floor\) \[vs shipped: 1\.\dx, p(<|=)0\.0\d*\], shipped ", celery)
    assert "; `noop` tasks/s: bare " in celery and "tuned 1" in celery
    # The headline stays the shipped profile even when bare sorts first.
    assert "shipped, p50 of one `noop` enqueue call" in answers
    # Counted DB statements per task beside the timings, and what the integration adds on top of the library.
    assert (
        "DB statements per `noop` task: bare 0.0 statements (0.0 write commits, 0.0 new connections), "
        "shipped 5.0 statements (1.0 write commit, 1.0 new connection)" in celery
    )
    factor = r"×\d[.\d]* \(×\d[.\d]* against each one's floor(: direction within this run's noise)?\)"
    assert re.search(rf"the integration \(shipped over bare\): enqueue p50 {factor}, `noop` tasks/s ×0\.\d+ ", celery)
    assert celery.endswith("+5.0 statements and +1.0 write commits per task")
    assert "PostgreSQL 15.0 (synthetic)" in answers


def test_a_profile_declared_the_same_is_said_so_not_measured(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    huey = next(line for line in _answers(md).splitlines() if line.startswith("- **Huey**: "))
    assert huey.startswith("- **Huey**: bare: same as shipped — nothing of its integration to leave out; enqueue p50: ")
    assert "the integration" not in huey  # bare = shipped: nothing to compare
    details = md[md.index("### Database statements per task") :]
    assert "| Huey | bare | same as shipped |" in details
    assert "| Celery | shipped | 5.0 | 0.0 / 5.0 | 1.0 | 1.0 | none | 1 × INSERT INTO" in details


def test_do_i_need_redis_from_the_database_broker_numbers(report_dir: Path) -> None:
    answers = _answers((report_dir / "report.md").read_text())
    line = next(line for line in answers.splitlines() if line.startswith("- **django.tasks DB (synthetic)**"))
    assert "(database broker, no Redis): enqueue p50 " in line
    assert "for the best Redis-broker backend, Huey (" in line and "p<0.001" in line
    assert "so a load up to 200 tasks/s was served within the latency bound without Redis in this run" in line


def test_retry_and_redis_down_answers_say_what_was_measured(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    answers = _answers(md)
    assert (
        "**django-q2** (shipped, safe): policy attempts **not as configured** (1/3 and 1/4 within the 8 s window)"
        in answers
    )
    assert re.search(
        r"\*\*Huey\*\* \(shipped, safe\): policy attempts as configured \(3/3 and 4/4\), "
        r"\*\*gaps 2\.0\d s vs 1 s configured\*\*; failure after the policy's retries are exhausted: "
        r"\*\*not visible\*\*",
        answers,
    )
    # Library defaults: only what the window showed.
    assert "**Celery** (shipped, safe): policy attempts as configured" in answers
    assert "library default: no retry within the 8 s window" in answers
    assert (
        "Dramatiq** (shipped, safe): policy attempts as configured (3/3 and 4/4), gaps 1.00 s vs 1 s configured; "
        "failure after the policy's retries are exhausted: visible to the app; library default: 2 attempts within the "
        "8 s window" in answers
    )
    # Redis down: exception after how long, what the view got; a blocking client is called blocking.
    assert (
        "**Celery**: enqueue raised `redis.exceptions.ConnectionError` after 2.0 ms; the view got a clean "
        "`EnqueueFailed`; after a restart the workers resumed on their own" in answers
    )
    assert "**Huey**: the enqueue call **blocked** (no answer after 15.0 s)" in answers
    faq = md[md.index("## FAQ") : md.index("## Details")]
    assert "- **django-q2** (shipped, safe): shop policy, failing 2×: 1 attempt (**expected 3**), 0/2 succeeded" in faq


def test_channel_overhead_relative_to_the_noop_task(report_dir: Path, fixture_results: RunResults) -> None:
    md = (report_dir / "report.md").read_text()
    tps = statistics.median(
        r.values["tasks_per_s"]
        for r in fixture_results.select(
            backend="celery",
            profile="shipped",
            scenario="throughput",
            params={"task": "noop", "mode": "backlog", "processes": 2},
        )
    )
    share = 2 * 1800 / (2 / tps * 1e9) * 100
    row = next(line for line in md.splitlines() if line.startswith("| Celery | shipped | 1.80 µs |"))
    assert row.split(" | ")[4] == "3.60 µs"
    assert row.rstrip(" |").endswith(f"{share:.2g} %")


def test_method_and_settings_follow_the_run(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    method = md[md.index("## Method") :]
    # Preset values of the run, and the steady-window definition the figures really use.
    assert "noop tasks are enqueued while no worker runs" in method and "steady window" in method
    assert "SIGKILL of the whole worker process tree" in method and "SIGTERM to the worker's main process" in method
    assert "All variants are observed for 8 s" in method
    assert "**safe** — measured, but this results file does not record" in md  # honest about missing settings


def test_older_field_names_still_read() -> None:
    """Files of earlier harness versions: redelivery_s_min, recovery_s, seconds, scenario_params."""
    kill = Record(
        "celery",
        "safe",
        "faults",
        {"kind": "sigkill"},
        0,
        values={"redelivery_s_min": 10.5, "interrupted_rerun": 2, "running_lost": 0, "queued_lost": 0},
        accounting={
            "completed": ["sigkill-long-1-0", "sigkill-long-1-1", "sigkill-queued-2-0"],
            "duplicated": [],
            "lost": [],
        },
    )
    outcome = fault_outcome(kill)
    assert outcome is not None and outcome.redelivery_s == 10.5
    assert outcome.categories["running"] == CategoryOutcome(2, 0, 0)  # derived from the probe names
    assert outcome.cell() == "all 3 once; 2/2 interrupted tasks re-run, first 10.5 s after the signal"
    assert not outcome.classified
    assert outcome.verdict() == "0 of 3 not finished within the window (not classified), 0 duplicated"
    restart = Record(
        "celery",
        "shipped",
        "faults",
        {"kind": "redis_restart", "persistence": "aof"},
        0,
        values={"recovery_s": 5.0},
        accounting={"completed": [], "duplicated": [], "lost": ["a"]},
    )
    assert fault_outcome(restart).reconnect_s == 5.0
    assert fault_outcome(restart).verdict().startswith("1 of 1 not finished within the window (not classified)")
    down = Record(
        "celery",
        "shipped",
        "faults",
        {"kind": "redis_down_enqueue"},
        0,
        values={"seconds": 0.608, "raised": True, "blocked": False},
        notes={"exception": "kombu.exceptions.OperationalError", "view_outcome": "shop.queue.EnqueueFailed"},
    )
    facts = down_enqueue(down)
    assert facts is not None
    assert facts.call_text() == "raised `kombu.exceptions.OperationalError` after 608 ms"
    old = RunResults({"id": "old", "scenario_params": {"latency_bound_ms": 5.0}}, {}, {}, ())
    assert content.make_context(old).bound_ns == 5e6


def test_charts_written_beside_the_markdown(report_dir: Path) -> None:
    md = (report_dir / "report.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(images) >= 6
    for name in images:
        data = (report_dir / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    for prefix in ("scorecard", "enqueue-", "throughput-", "latency-", "retry-timelines", "fault-outcomes", "memory-"):
        assert any(n.startswith(prefix) for n in images), prefix


def test_html_is_self_contained_and_deterministic(report_dir: Path, report_from_path: Callable[[], Path]) -> None:
    page = (report_dir / "report.html").read_text()
    # Every PNG is a chart of the page, but the scorecard: the page colours its table instead.
    assert page.count('<figure class="chart"') == len(list(report_dir.glob("*.png"))) - 1
    assert '<table class="scorecard"' in page and page.index('<table class="scorecard"') < page.index(
        '<nav class="toc"'
    )
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "<link" not in page
    # Generated again, from the file this time, as the harness calls it at the end of a run
    # (``write_report(results_path, out_dir)``), in another process: the same bytes.
    again = report_from_path()
    md, html = again / "report.md", again / "report.html"
    assert md.read_text().startswith("# Django task queue benchmark — run 2026-11-25T12-00-00Z-synthetic")
    assert html.read_text() == page
    assert md.read_text() == (report_dir / "report.md").read_text()


def test_absent_scenarios_say_not_measured(fixture_results: RunResults, tmp_path: Path) -> None:
    only_enqueue = replace(fixture_results, records=tuple(fixture_results.select(scenario="enqueue")))
    write_report(only_enqueue, tmp_path)
    md = (tmp_path / "report.md").read_text()
    answers = _answers(md)
    assert answers.count("not measured in this run") == 5
    assert "Throughput: not measured in this run." in md


def test_cli_writes_report_and_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = empty_run_results(tmp_path / "small.json")
    assert main([str(small), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").exists() and (tmp_path / "out" / "report.md").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "run": ')
    capsys.readouterr()
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"bench.report: error: corrupt results file {bad}: line 1 col") and "\n" not in err
    assert main([str(tmp_path / "missing.json")]) == 2
    assert main(["compare", str(FIXTURE), str(tmp_path / "missing.json")]) == 2


def test_cli_exit_status_from_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.report", str(tmp_path / "nope.json")], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no results file" in proc.stderr


def _throughput_run(tps: float, cpu: str, reps: int = 5) -> RunResults:
    records = tuple(
        Record(
            "huey",
            "shipped",
            "throughput",
            {"task": "noop", "processes": 2, "mode": "backlog"},
            rep,
            values={"tasks_per_s": tps * (1 + 0.01 * rep)},
        )
        for rep in range(reps)
    ) + tuple(
        Record(
            "celery",
            "shipped",
            "enqueue",
            {"task": "noop"},
            rep,
            histograms={"latency_ns": stats.encode(stats.histogram_of([100_000 + rep * 100] * 50))},
        )
        for rep in range(reps)
    )
    env = {"cpu_model": cpu, "cpu_count": 2, "python": "3.11.7", "packages": {"huey": "3.5.4"}}
    return RunResults({"id": cpu, "preset": "full"}, env, {}, records)


def test_compare_reports_ratios_significance_and_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, changed = _throughput_run(2000.0, "CPU A"), _throughput_run(1000.0, "CPU B")
    text = render_text(compare_runs(base, changed, ratios=False), "a.json", "b.json")
    assert "WARNING: CPU model differs: CPU A vs CPU B" in text
    huey = next(line for line in text.splitlines() if line.startswith("throughput") and "huey" in line)
    assert huey.endswith("2.00x slower")
    celery = next(line for line in text.splitlines() if "enqueue p50" in line)
    assert celery.endswith("not significant")
    assert "Geometric mean over" in text
    # Through the CLI, from files.
    write_results(tmp_path / "a.json", base)
    write_results(tmp_path / "b.json", changed)
    same_cpu = replace(changed, environment=base.environment)
    write_results(tmp_path / "b.json", same_cpu)
    assert main(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 0
    assert "2.00x slower" in capsys.readouterr().out


def _with_floor(run: RunResults, floor_tps: float) -> RunResults:
    floor = tuple(
        Record(
            "redis-baseline",
            "shipped",
            "throughput",
            {"task": "noop", "processes": 2, "mode": "backlog"},
            rep,
            values={"tasks_per_s": floor_tps * (1 + 0.01 * rep)},
        )
        for rep in range(5)
    )
    return replace(run, records=run.records + floor)


def test_compare_uses_ratios_to_the_floor_when_machines_differ() -> None:
    """A machine twice as slow halves the backend and its floor alike: as ratios, nothing changed."""
    base = _with_floor(_throughput_run(2000.0, "CPU A"), 20000.0)
    changed = _with_floor(_throughput_run(1000.0, "CPU B"), 10000.0)
    text = render_text(compare_runs(base, changed), "a.json", "b.json")
    assert "WARNING: environments differ: times and rates are compared as ratios to each run's own floor" in text
    huey = next(line for line in text.splitlines() if line.startswith("throughput") and "huey" in line)
    assert "tasks/s ÷ floor" in huey and not huey.endswith("slower")
    # The enqueue measurement has no floor in these runs: not compared across machines at all.
    assert "enqueue p50" not in text


def _ranked_run(rates: dict[str, float]) -> RunResults:
    """Noop backlog throughput of several backends (and the Redis floor, which is never ranked)."""
    records = tuple(
        Record(name, "shipped", "throughput", {"task": "noop", "processes": 2, "mode": "backlog"}, 0,
               values={"tasks_per_s": rate})
        for name, rate in (rates | {"redis-baseline": 20_000.0}).items()
    )  # fmt: skip
    return RunResults({"id": "x", "preset": "quick"}, {"cpu_model": "CPU A"}, {}, records)


def test_compare_says_whether_the_ranking_is_the_same() -> None:
    """Quick and full must rank backends alike (quick previews full): compare names every pair whose order flipped."""
    quick = _ranked_run({"celery": 300.0, "djangoq": 1400.0, "huey": 8000.0})
    full = _ranked_run({"celery": 320.0, "djangoq": 250.0, "huey": 7500.0})
    text = render_text(compare_runs(quick, full), "quick.json", "full.json")
    assert "ORDER DIFFERS: throughput mode=backlog, processes=2, task=noop tasks/s [shipped]" in text
    assert "quick.json: huey > djangoq > celery" in text and "full.json: huey > celery > djangoq" in text
    assert "djangoq vs celery: 1,400 tasks/s vs 300 tasks/s, then 250 tasks/s vs 320 tasks/s" in text
    assert "then 250 tasks/s vs 320 tasks/s\n" in text  # 5.6x apart in the quick run: not a tie
    assert "redis-baseline" not in text.split("Rankings")[1]  # a floor is never ranked
    close = render_text(
        compare_runs(
            _ranked_run({"celery": 1200.0, "djangoq": 1300.0, "huey": 8000.0}),
            _ranked_run({"celery": 1300.0, "djangoq": 1200.0, "huey": 8000.0}),
        ),
        "q",
        "f",
    )
    assert (
        "djangoq vs celery: 1,300 tasks/s vs 1,200 tasks/s, then 1,200 tasks/s vs 1,300 tasks/s (within 1.25x" in close
    )
    same = render_text(compare_runs(quick, quick), "quick.json", "quick.json")
    assert (
        "same order:    throughput mode=backlog, processes=2, task=noop tasks/s [shipped]: huey > djangoq > celery"
        in same
    )


def test_compare_fixture_with_itself() -> None:
    res = load_results(FIXTURE)
    result = compare_runs(res, res)
    assert result.rows and not result.warnings
    assert all("slower" not in row.comparison.verdict for row in result.rows)


# --------------------------------------------------------------------------------------------------------------------
# Headless Chromium, driven through the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out).


class DevTools:
    """A minimal CDP client: JSON messages separated by NUL bytes on two pipes."""

    def __init__(self, chromium: str, profile_dir: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire_fds() -> None:
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            preexec_fn=wire_fds,
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        reply = self.wait(lambda m, i=self._next_id: m.get("id") == i)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait(self, predicate: Any, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if predicate(message):
                    return message
            ready, _, _ = select.select([self._from_chrome], [], [], 0.5)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
        raise TimeoutError("no answer from chromium")

    def close(self) -> None:
        try:
            os.write(self._to_chrome, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._to_chrome)
            os.close(self._from_chrome)


def test_html_renders_in_headless_chromium_without_console_errors(report_dir: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (apt-get install -y chromium) and CI=true")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        targets = browser.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = browser.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            browser.call(f"{domain}.enable", session=session)
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.call("Page.navigate", {"url": (report_dir / "report.html").as_uri()}, session=session)
        browser.wait(lambda m: m.get("method") == "Page.loadEventFired")
        marker = browser.call(
            "Runtime.evaluate",
            {
                "expression": "[document.body.dataset.chartsOk, document.body.dataset.chartsFailed]",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
        scorecard_bottom = browser.call(
            "Runtime.evaluate",
            {
                "expression": "document.querySelector('table.scorecard').getBoundingClientRect().bottom",
                "returnByValue": True,
            },
            session=session,
        )["result"].get("value")
        if os.environ.get("REPORT_SCREENSHOT"):  # for a person to look at: REPORT_SCREENSHOT=/tmp/shot.png
            shot = browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
            Path(os.environ["REPORT_SCREENSHOT"]).write_bytes(base64.b64decode(shot))
    finally:
        browser.close()
    charts = len(list(report_dir.glob("*.png"))) - 1  # the scorecard's PNG is for report.md only
    assert marker == [str(charts), None], f"charts rendered: {marker}, expected {charts}"
    # The first screen (1280×900) answers "which backend for what": the whole scorecard table is within it.
    assert scorecard_bottom is not None and 0 < scorecard_bottom <= 900, scorecard_bottom
    errors = [
        e
        for e in browser.events
        if e["method"] == "Runtime.exceptionThrown"
        or (e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert", "warning"))
        or (e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] in ("error", "warning"))
    ]
    assert not errors, errors
    requests = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    assert requests and all(u.startswith(("file:", "data:", "about:")) for u in requests), requests


def test_terminal_summary_uses_the_report_figures(fixture_results: RunResults) -> None:
    """summary_table and the report derive ratios and the sustainable rate from the same functions."""
    from rich.console import Console

    from bench.__main__ import summary_table

    console = Console(record=True, width=250)
    console.print(summary_table(fixture_results))
    text = console.export_text()
    djangoq = next(line for line in text.splitlines() if line.startswith("│ djangoq"))
    assert "200 tasks/s" in djangoq and "800/s: saturated" in djangoq
    huey = next(line for line in text.splitlines() if line.startswith("│ huey") and "│ shipped" in line)
    enqueue = derived.figure(fixture_results, "huey", "shipped", FIGURES["enqueue_p50"], {"task": "noop"})
    assert f"({ratio_text(enqueue.ratio)})" in huey and "≥ 800 tasks/s" in huey and huey.endswith("0.0 / 0.0 │")
    # A profile declared the same configuration as another has a row that says so, and no figures.
    huey_bare = next(line for line in text.splitlines() if line.startswith("│ huey") and "│ bare" in line)
    assert "same as shipped" in huey_bare and "µs" not in huey_bare
    celery = next(line for line in text.splitlines() if line.startswith("│ celery") and "│ shipped" in line)
    assert celery.endswith("5.0 / 1.0 │")


def test_numbers_for_people() -> None:
    assert duration_ns(999_700) == "1.00 ms"  # never "1e+03 µs"
    assert duration_ns(999.7) == "1.00 µs" and duration_ns(12_345) == "12.3 µs" and duration_ns(850) == "850 ns"
    assert duration_ns(3600e9) == "3,600 s"
    assert seconds_text(43.2) == "43 s" and seconds_text(4.74) == "4.7 s" and seconds_text(0.094) == "94.0 ms"
    assert due_text(0.0, 0.0) == "due now" and due_text(43.2, 43.4) == "due in ~43 s"
    assert due_text(0.0, 30.0) == "due now to ~30 s" and due_text(43.2, 59.7) == "due in 43–60 s"
    assert derived.test_text([1.0], [2.0], higher_is_better=False) == "1 repetition: no test"
    assert derived.test_text([1.0, 1.1], [2.0, 2.1], higher_is_better=False) == "2.0x, 2 repetitions: no test"
    assert derived.test_text([1.0, 1.01, 0.99], [2.0, 2.02, 1.98], higher_is_better=False) == "2.0x, p<0.001"
    assert derived.test_text([1.0, 1.5, 0.7], [1.1, 0.8, 1.4], higher_is_better=False).startswith(
        "1.1x, not significant (p="
    )


def _latency(backend: str, rate: float, *, sent: float, completed_rate: float | None, p99_ms: float) -> Record:
    values = {"offered_rate": rate, "achieved_rate": sent, "sent": rate * 20, "completed": rate * 20, "lost": 0}
    if completed_rate is not None:
        values["completed_rate"] = completed_rate
    hist = stats.encode(stats.histogram_of([p99_ms * 1e6 * 0.5] * 98 + [p99_ms * 1e6] * 2))
    return Record(
        backend,
        "shipped",
        "latency",
        {"task": "noop", "processes": 2, "rate": rate},
        0,
        histograms={"to_start_ns": hist, "to_finish_ns": hist},
        values=values,
    )


def test_over_the_latency_bound_is_not_saturated() -> None:
    """Completions that keep up with a p99 over the bound are 'over the latency bound'; falling behind is saturated."""
    states = derived.rate_states(
        [
            _latency("x", 50, sent=50, completed_rate=50, p99_ms=20),
            _latency("x", 150, sent=150, completed_rate=149, p99_ms=300),
            _latency("x", 400, sent=400, completed_rate=200, p99_ms=3000),
            _latency("x", 1000, sent=700, completed_rate=None, p99_ms=9000),
        ],
        bound_ns=100e6,
    )
    assert [s.state for s in states] == [derived.OK, derived.OVER_BOUND, derived.SATURATED, derived.SATURATED]
    assert derived.max_sustainable(states).rate == 50
    assert derived.sustainable_text(states) == "50 tasks/s"
    # Without a recorded completion rate: a lower bound from the intended schedule and the to-finish spread.
    assert not states[3].completed_exact and states[3].completed_per_s is not None


def test_floor_from_the_backend_description(fixture_results: RunResults) -> None:
    assert derived.is_floor(fixture_results, "db-baseline") and derived.is_floor(fixture_results, "redis-baseline")
    assert derived.floor_of(fixture_results, "dbtasks") == "db-baseline"
    assert derived.floor_of(fixture_results, "huey") == "redis-baseline"
    assert derived.floor_of(fixture_results, "redis-baseline") is None
    # Older files: no roles at all; the Redis floor is known by its name.
    old = RunResults({}, {}, {"celery": {"label": "Celery"}}, (Record("redis-baseline", "shipped", "enqueue", {}, 0),))
    assert derived.is_floor(old, "redis-baseline") and derived.floor_of(old, "celery") == "redis-baseline"
