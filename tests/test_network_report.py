"""The report of a run at several networks: records of one measurement at two networks stay two measurements (groups,
compare, figures), the scorecard names its network, and the Answers say where the ranking changes and why.

The runs here are SYNTHETIC (built below, never written to results/): two backends and the Redis floor, at
loopback and at az, where the chatty backend (4 round trips per enqueue, 10 per task) is fastest on loopback and
slowest at 2 ms.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench import stats
from bench.network import LOOPBACK, NAMED
from bench.report import readme, write_report
from bench.report.compare import compare_runs, render_text
from bench.report.context import SYNTHETIC_PRESET, main_part, make_context
from bench.report.derived import figure
from bench.report.figures import FIGURES
from bench.report.sections import network
from bench.report.sections import network as network_module
from bench.report.terminal import scorecard_table
from bench.results import Record, RunResults, write_results

pytestmark = pytest.mark.unit

AZ = {**NAMED["az"].as_dict(), "measured": {"redis": {"p50_us": 2050.0, "added_p50_us": 2010.0}}}
LAN = {**NAMED["lan"].as_dict(), "measured": {"redis": {"p50_us": 560.0, "added_p50_us": 510.0}}}
#: backend → (enqueue p50 µs at loopback, noop tasks/s at loopback, round trips per enqueue, per task)
BACKENDS = {"chatty": (60.0, 3000.0, 4.0, 10.0), "lean": (80.0, 2500.0, 1.0, 2.0), "redis-baseline": (20, 9000, 1, 2)}


def _records(network: dict[str, Any], rtt_ms: float) -> list[Record]:
    """Enqueue and noop throughput of every backend at one network, 3 repetitions; round trips where proxied."""
    records = []
    for backend, (p50_us, rate, per_enqueue, per_task) in BACKENDS.items():
        for rep in range(3):
            p50_ns = (p50_us + per_enqueue * rtt_ms * 1e3) * 1e3 * (1 + rep / 100)
            hist = stats.histogram_of([p50_ns] * 50)
            records.append(
                Record(
                    backend, "shipped", "enqueue", {"task": "noop"}, rep,
                    histograms={"latency_ns": stats.encode(hist)}, network=network,
                )
            )  # fmt: skip
            # Two worker processes, each waiting for its round trips per task; the shop task mostly for its own work.
            for task, mode, own in (("noop", "backlog", rate), (network_module.SHOP_TASK, "concurrent", rate / 100)):
                tasks_per_s = 1 / (1 / own + per_task * rtt_ms / 1e3 / 2) * (1 - rep / 100)
                records.append(
                    Record(
                        backend, "shipped", "throughput", {"task": task, "processes": 2, "mode": mode}, rep,
                        values={"tasks_per_s": tasks_per_s}, network=network,
                    )
                )  # fmt: skip
        if network.get("proxied") and backend != "redis-baseline":
            counted = {"enqueue_redis": per_enqueue, "enqueue_postgres": 0.0, "task_redis": per_task}
            records.append(
                Record(backend, "shipped", "round_trips", {"task": "noop"}, 0, values=counted, network=network)
            )
    return records


def synthetic_run(*networks: dict[str, Any]) -> RunResults:
    """A synthetic run at ``networks`` (the first is the main one)."""
    rtt = {n["name"]: n["rtt_ms"] for n in networks}
    records = [r for n in networks for r in _records(n, rtt[n["name"]])]
    backends = {
        "chatty": {"label": "Chatty", "api": "native", "broker": "redis"},
        "lean": {"label": "Lean", "api": "native", "broker": "redis"},
        "redis-baseline": {"label": "Redis floor", "role": "floor", "broker": "redis"},
    }
    run = {
        "id": "synthetic-networks",
        "preset": SYNTHETIC_PRESET,
        "profiles": ["shipped"],
        "repetitions": 3,
        "networks": [n["name"] for n in networks],
        "started_at": "2026-12-05T00:00:00+00:00",
        "finished_at": "2026-12-05T00:10:00+00:00",
    }
    environment = {"cpu_model": "Synthetic CPU", "cpu_count": 2, "python": "3.11.7", "packages": {"django": "5.2"}}
    return RunResults(run, environment, backends, tuple(records))


def test_the_same_measurement_at_two_networks_is_two_measurements() -> None:
    both = synthetic_run(LOOPBACK.as_dict(), AZ)
    groups = both.groups(backend="chatty", scenario="enqueue")
    assert sorted(key.network for key in groups) == ["az", "loopback"]
    assert all(len(reps) == 3 and len({r.network_name for r in reps}) == 1 for reps in groups.values())
    # A figure is read at one network: given, or the run's main one; never a mix of the two networks' repetitions.
    at_az = figure(both, "chatty", "shipped", FIGURES["enqueue_p50"], {"task": "noop"}, "az")
    at_loopback = figure(both, "chatty", "shipped", FIGURES["enqueue_p50"], {"task": "noop"}, "loopback")
    default = figure(both, "chatty", "shipped", FIGURES["enqueue_p50"], {"task": "noop"})
    assert at_az.median is not None and at_loopback.median is not None
    assert at_az.median > 50 * at_loopback.median and default.values == at_loopback.values
    # Its floor is the floor measured at the same network.
    assert at_az.floor_values == figure(both, "redis-baseline", "shipped", FIGURES["enqueue_p50"], {"task": "noop"},
                                        "az").values  # fmt: skip


def test_compare_never_pairs_figures_of_different_networks() -> None:
    loopback, az = synthetic_run(LOOPBACK.as_dict()), synthetic_run(AZ)
    across = compare_runs(loopback, az)
    assert across.rows == [] and across.shared == 0
    assert any(w.startswith("networks differ: loopback vs az") for w in across.warnings)
    assert "No measurement is present in both runs." in render_text(across, "a", "b")
    # Two runs at loopback and az each: every figure compared at its own network, a network column shown.
    both = synthetic_run(LOOPBACK.as_dict(), AZ)
    again = compare_runs(both, both)
    assert {row.network for row in again.rows} == {"loopback", "az"}
    assert all(row.comparison.ratio == pytest.approx(1.0) for row in again.rows)
    assert {(r.network, tuple(r.base_order)) for r in again.rankings if r.metric == "enqueue p50"} == {
        ("loopback", ("chatty", "lean")),
        ("az", ("lean", "chatty")),
    }
    text = render_text(again, "a", "b")
    assert "network" in text.splitlines()[2] and "[shipped] at az" in text
    # A loopback run against one at loopback and az: the loopback figures only.
    partial = compare_runs(loopback, both)
    assert {row.network for row in partial.rows} == {"loopback"} and partial.only_in_changed > 0
    differ = "networks differ: loopback vs loopback, az; figures at loopback only are compared"
    assert any(w.startswith(differ) for w in partial.warnings)
    # A loopback-only comparison prints as before: no network column.
    assert "network" not in render_text(compare_runs(loopback, loopback), "a", "b").splitlines()[2]


def test_the_scorecard_names_its_network() -> None:
    both = synthetic_run(LAN, AZ)
    card = make_context(main_part(both))
    assert card.caption.endswith("network lan")
    table = scorecard_table(both)
    assert table is not None and "Measured at network lan (0.5 ms round trip" in str(table.title)
    assert "the same sessions also ran at az" in str(table.title)
    alone = scorecard_table(synthetic_run(LOOPBACK.as_dict()))
    assert alone is not None and "Measured at network loopback (direct loopback connections)" in str(alone.title)


def test_the_answers_say_where_the_ranking_changes_and_why(tmp_path: Path) -> None:
    both = synthetic_run(LOOPBACK.as_dict(), LAN, AZ)
    assert network.ends(both) == ("loopback", "az")
    enqueue, noop, shop = network.ranking_changes(both)
    assert enqueue.startswith("**enqueue p50** (shipped, `noop`): from loopback to az the ranking changes: ")
    assert "Chatty and Lean swap places (Chatty > Lean becomes Lean > Chatty)" in enqueue
    # Ratio at az ÷ loopback, explained by the counted round trips × the 2 ms added.
    assert (
        "at az ÷ at loopback: Chatty 134× (4 round trips per enqueue → +8.00 ms of waiting per enqueue at az)"
        in enqueue
    )
    assert "; Lean 26× (1 round trip per enqueue → +2.00 ms of waiting per enqueue at az)." in enqueue
    assert "**tasks/s** (shipped, `noop`, 2 worker processes)" in noop and "Chatty and Lean swap places" in noop
    assert "Chatty 0.032× (10 round trips per task → +20.0 ms of waiting per task at az)" in noop
    # The shop task (mostly its own work): the two swap, but within 1.25x of each other at both ends, a tie.
    assert shop.startswith("**tasks/s** (shipped, `send_invoice_email`, 2 worker processes): from loopback to az")
    assert "Chatty and Lean swap places (Chatty > Lean becomes Lean > Chatty); Chatty and Lean: within 1.25× of" in shop
    assert "a tie" in shop and "a tie" not in enqueue + noop
    assert "Redis floor" not in enqueue + noop  # floors are never ranked
    md, html = write_report(both, tmp_path)
    assert '<p class="network">Measured at network <strong>loopback</strong> (direct' in html.read_text()
    text = md.read_text()
    answers_part = text[text.index("## Answers") : text.index("## FAQ")]
    assert f"**{network.RANKING_QUESTION}**" in answers_part and enqueue in answers_part
    assert (
        "Measured at network **loopback** (direct loopback connections); the same sessions also ran at lan, az" in text
    )


def test_a_run_at_one_network_adds_no_ranking_answer(tmp_path: Path) -> None:
    one = synthetic_run(AZ)
    assert network.ends(one) is None and network.ranking_changes(one) == [] and network.answers(one) == []
    md, _ = write_report(one, tmp_path)
    assert network.RANKING_QUESTION not in md.read_text()


def _readme(tmp_path: Path, runs: str, results: dict[str, RunResults]) -> str:
    results_dir = tmp_path / "results"
    results_dir.mkdir(parents=True)
    for run_id, run in results.items():
        write_results(results_dir / run_id / "results.json", run)
    path = tmp_path / "README.md"
    path.write_text(f"# x\n<!-- generated: network from {runs} -->\nold\n<!-- end generated: network -->\n")
    assert readme.write(path, results_dir) is False
    assert readme.write(path, results_dir, check=True) is True
    return path.read_text()


def test_the_readme_says_which_findings_change_with_the_network(tmp_path: Path) -> None:
    run_id = "2026-12-06T00-00-00Z-aaaaaaa"
    text = _readme(tmp_path, f"results/{run_id}", {run_id: synthetic_run(LOOPBACK.as_dict(), AZ)})
    assert f"[`{run_id}`](results/{run_id}/report.md)" in text
    # The best backend at each end, the loser's figure at the far end beside it (Chatty's 4 round trips per enqueue).
    assert (
        "- **enqueue p50** (shipped, `noop`): Chatty at loopback (60.6 µs); at az Lean (2.10 ms), where Chatty takes "
        "8.14 ms." in text
    )
    assert "- **tasks/s** (shipped, `noop`): Chatty at loopback (2,970 tasks/s); at az Lean (412 tasks/s)" in text
    # One table: every backend at each network beside its counted round trips; the floor last, never the best.
    assert (
        "| backend | enqueue p50 at loopback | enqueue p50 at az | round trips per enqueue | tasks/s at loopback | "
        "tasks/s at az | round trips per task |" in text
    )
    # Each figure with its ratio to the floor at the same network (60.6 ÷ 20.2 µs = 3.0×; 95.8 ÷ 469 tasks/s = 20 %).
    assert "| Chatty | 60.6 µs (3.0×) | 8.14 ms (4.0×) | 4 | 2,970 tasks/s (33 %) | 95.8 tasks/s (20 %) | 10 |" in text
    assert "| Redis floor | 20.2 µs | 2.04 ms | – | 8,910 tasks/s | 469 tasks/s | – |" in text
    assert text.index("| Lean |") < text.index("| Redis floor |")
    # No multi-network run named yet: one generated line says so.
    none = _readme(tmp_path / "none", readme.NO_RUN, {})
    assert none.count("\n") == 4 and "No run at several networks is named yet" in none
    # A run at one network: one line saying so, linking the run.
    single = "2026-12-06T00-00-00Z-bbbbbbb"
    one = _readme(tmp_path / "one", f"results/{single}", {single: synthetic_run(AZ)})
    assert f"[`{single}`](results/{single}/report.md) was measured at az only" in one


def test_a_backend_without_an_ok_figure_at_one_end_is_named_not_compared() -> None:
    run = synthetic_run(LOOPBACK.as_dict(), AZ)
    failed = tuple(
        replace(r, status="premise_not_met", error="redis: the proxy added 2.600 ms per round trip, not 2 ms")
        if (r.backend, r.scenario, r.network_name) == ("lean", "enqueue", "az")
        else r
        for r in run.records
    )
    sentences = network.ranking_changes(replace(run, records=failed))
    # Two backends are needed to rank: enqueue has one left, so only the throughput sentences remain.
    assert [s.split("**")[1] for s in sentences] == ["tasks/s", "tasks/s"]
    third = {**run.backends["lean"], "label": "Third"}
    extra = [replace(r, backend="third") for r in run.records if r.backend == "lean"]
    with_third = replace(run, backends={**run.backends, "third": third}, records=(*failed, *extra))
    enqueue = network.ranking_changes(with_third)[0]
    assert enqueue.startswith("**enqueue p50**") and "Chatty and Third swap places" in enqueue
    assert enqueue.endswith("Not compared: Lean (no ok figure at az).")


def test_the_committed_readme_has_the_network_region() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "<!-- generated: network from " in text and "<!-- end generated: network -->" in text
