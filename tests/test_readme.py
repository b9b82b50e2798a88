"""README.md's findings are written by ``python -m bench.report readme`` from the runs it names; lint checks them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.network import NAMED
from bench.report import readme
from bench.report.__main__ import main
from bench.report.context import SYNTHETIC_PRESET
from bench.results import Record, RunResults, load_results

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FIXTURE = REPO / "tests" / "fixtures" / "results-small.json"
RUN = "2026-11-01T10-00-00Z-aaaaaaa"


def small_readme(tmp_path: Path, body: str = "") -> tuple[Path, Path]:
    """A README with one answer region over the fixture run, and its results folder."""
    results = tmp_path / "results"
    (results / RUN).mkdir(parents=True)
    shutil.copy(FIXTURE, results / RUN / "results.json")
    path = tmp_path / "README.md"
    region = f"<!-- generated: answer from results/{RUN} -->\n{body}<!-- end generated: answer -->\n"
    path.write_text(f"# x\n\n{region}end\n")
    return path, results


def test_the_committed_readme_is_what_its_runs_give() -> None:
    assert readme.write(README, REPO / "results", check=True), "run `nox -s report -- readme`"


def test_the_committed_readme_is_short_and_cites_a_run_for_its_findings() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 220
    regions = re.findall(r"<!-- generated: (\S+) from ([^>]*) -->\n(.*?)<!-- end generated", text, re.DOTALL)
    assert regions, "the README states no generated finding"
    for _kind, runs, body in regions:
        for run in re.findall(r"results/([0-9A-Za-z-]+)", runs):
            assert f"results/{run}/report.md" in body, f"the region from {run} does not link its report"


def test_a_hand_edit_of_a_generated_figure_fails_the_check(tmp_path: Path) -> None:
    path, results = small_readme(tmp_path)
    assert main(["readme", "--readme", str(path), "--results", str(results)]) == 0
    assert main(["readme", "--readme", str(path), "--results", str(results), "--check"]) == 0
    text = path.read_text()
    figure = re.search(r"\d+(\.\d+)?(?= ?(µs|ms|tasks/s|×|%))", text)
    assert figure is not None, "the region states no figure"
    path.write_text(text[: figure.start()] + "9" + text[figure.start() :])
    assert main(["readme", "--readme", str(path), "--results", str(results), "--check"]) == 1
    # Text outside the regions is the author's: editing it is not a failure.
    path.write_text(text.replace("# x", "# y"))
    assert main(["readme", "--readme", str(path), "--results", str(results), "--check"]) == 0


def test_the_answer_names_its_run_and_the_fastest_enqueue(tmp_path: Path) -> None:
    path, results = small_readme(tmp_path, "stale text\n")
    assert readme.write(path, results) is False
    text = path.read_text()
    assert "stale text" not in text and text.endswith("<!-- end generated: answer -->\nend\n")
    run = load_results(results / RUN / "results.json")
    assert f"[`{RUN}`](results/{RUN}/report.md)" in text
    assert f"Python {run.environment['python']}" in text
    assert "**The fastest enqueue call" in text


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("<!-- generated: answer from results/2026-01-01T00-00-00Z-missing -->\n", "results.json"),
        ("<!-- generated: nonsense from results/" + RUN + " -->\n", "unknown generated region"),
        ("<!-- generated: answer from nowhere -->\n", "names no run"),
    ],
)
def test_bad_regions_are_one_line_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], region: str, message: str
) -> None:
    path, results = small_readme(tmp_path)
    kind = re.search(r"generated: (\S+)", region)[1]  # type: ignore[index]
    text = f"# x\n{region}old\n<!-- end generated: {kind} -->\n"
    path.write_text(text)
    assert main(["readme", "--readme", str(path), "--results", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert path.read_text() == text


def _io_run() -> RunResults:
    """A SYNTHETIC run (never written to results/): the io_bound scenario at lan for three backends — a threaded one
    (io 6× shipped), one whose shipped session did not meet its premise, one whose io profile is declared the same
    as shipped."""
    lan = NAMED["lan"].as_dict()

    def record(backend: str, profile: str, rate: float | None, rss: float | None = None) -> Record:
        values = {"tasks_per_s": rate, "rss_per_task_in_flight_bytes": rss} if rate else {}
        status = "ok" if rate else "premise_not_met"
        error = None if rate else "premise not met: redis: the proxy added 0.629 ms per round trip, not 0.5 ms"
        return Record(backend, profile, "io_bound", {"task": "send_invoice_email"}, 0, values=values, network=lan,
                      status=status, error=error)  # fmt: skip

    records = (
        record("threads", "shipped", 6.0),
        record("threads", "io", 36.0, 3 * 2**20),
        record("flaky", "shipped", None),
        record("flaky", "io", 38.0, 5 * 2**20),
        record("single", "shipped", 6.5),
    )
    backends = {
        "threads": {"label": "Threads", "api": "native", "broker": "redis"},
        "flaky": {"label": "Flaky", "api": "native", "broker": "redis"},
        "single": {"label": "Single", "api": "native", "broker": "redis",
                   "profiles": {"io": {"same_as": "shipped", "same_reason": "no thread option"}}},
    }  # fmt: skip
    run = {"id": "synthetic-io", "preset": SYNTHETIC_PRESET, "profiles": ["shipped", "io"], "repetitions": 1,
           "networks": ["lan"], "started_at": "2026-12-06T00:00:00+00:00"}  # fmt: skip
    return RunResults(run, {"cpu_model": "Synthetic CPU", "cpu_count": 2}, backends, records)


def test_the_io_region_ranks_emails_per_second_and_says_what_is_missing() -> None:
    line = readme.io_line(readme.Run("synthetic-io", _io_run()))
    assert line == (
        "at lan (SMTP 40 ms away), [`synthetic-io`](results/synthetic-io/report.md): "
        "Flaky 38.0 emails/s (shipped premise not met, 5.00 MiB RSS per waiting task); "
        "Threads 36.0 emails/s (6.0× shipped's 6, 3.00 MiB RSS per waiting task); "
        "Single 6.50 emails/s (io same as shipped)."
    )
    assert readme.io_line(readme.Run("none", RunResults({"id": "none"}, {}, {}, ()))) is None
