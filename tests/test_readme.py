"""README.md's findings are written by ``python -m bench.report readme`` from the runs it names; lint checks them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bench.report import readme
from bench.report.__main__ import main
from bench.results import load_results

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
