"""The results index (``python -m bench.report index``): written from the runs, checked by lint, shown by a browser."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from bench.report import index
from bench.report.__main__ import main
from bench.results import load_results, write_results
from tests.test_report import DevTools

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "results-small.json"


def two_runs(results_dir: Path) -> tuple[str, str]:
    """Two runs of the fixture's preset in ``results_dir`` (the second a day later, one record failed)."""
    base = load_results(FIXTURE)
    first, second = "2026-11-01T10-00-00Z-aaaaaaa", "2026-11-02T10-00-00Z-bbbbbbb"
    write_results(results_dir / first / "results.json", base)
    records = list(base.records)
    ok = next(i for i, r in enumerate(records) if r.status == "ok")
    records[ok] = replace(records[ok], status="failed", error="boom")
    run = {**base.run, "started_at": "2026-11-02T10:00:00+00:00", "finished_at": "2026-11-02T10:30:00+00:00"}
    write_results(results_dir / second / "results.json", replace(base, run=run, records=tuple(records)))
    return first, second


@pytest.mark.unit
def test_index_lists_every_run_with_its_facts_and_a_comparison(tmp_path: Path) -> None:
    first, second = two_runs(tmp_path)
    assert main(["index", str(tmp_path)]) == 0
    text = (tmp_path / "index.md").read_text()
    # Newest first, each linked to its report, the second compared with the first (same preset).
    assert text.index(second) < text.index(first)
    assert f"[{second}]({second}/report.md)" in text
    compare = tmp_path / "compare" / f"{first}..{second}.md"
    assert f"(compare/{compare.name})" in text and compare.is_file()
    assert "Geometric mean" in compare.read_text() or "Rankings" in compare.read_text()
    results = load_results(tmp_path / second / "results.json")
    row = index.run_row(tmp_path / second, results)
    before = index.run_row(tmp_path / first, load_results(tmp_path / first / "results.json"))
    assert f"{row.ok} of {row.records}" in text and row.ok == before.ok - 1
    assert "30 min" in text  # the second run's duration, from its own started_at / finished_at
    env = results.environment
    assert f"{env['python']} / {env['packages']['django']}" in text
    html_text = (tmp_path / "index.html").read_text()
    assert f'href="{second}/report.html"' in html_text and f'href="{first}/report.html"' in html_text


@pytest.mark.unit
def test_check_fails_on_a_hand_edit_and_on_a_new_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, _ = two_runs(tmp_path)
    assert main(["index", str(tmp_path)]) == 0
    assert main(["index", str(tmp_path), "--check"]) == 0
    md = tmp_path / "index.md"
    md.write_text(md.read_text().replace("of", "off", 1))
    assert main(["index", str(tmp_path), "--check"]) == 1
    assert "index.md" in capsys.readouterr().err
    assert main(["index", str(tmp_path)]) == 0
    shutil.copytree(tmp_path / first, tmp_path / "2026-11-03T10-00-00Z-ccccccc")
    assert main(["index", str(tmp_path), "--check"]) == 1


@pytest.mark.unit
def test_a_corrupt_results_file_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_runs(tmp_path)
    broken = tmp_path / "2026-11-03T10-00-00Z-ccccccc" / "results.json"
    broken.parent.mkdir()
    broken.write_text('{"schema_version": 2, "run": ')
    assert main(["index", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(broken) in err
    assert not (tmp_path / "index.md").exists()


@pytest.mark.unit
def test_committed_index_is_current() -> None:
    """The committed index was written from the committed runs (lint checks the same)."""
    assert index.stale(REPO / "results") == []


def test_committed_index_renders_in_headless_chromium_and_links_every_run(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (apt-get install -y chromium) and CI=true")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    results_dir = REPO / "results"
    runs = sorted(p.parent.name for p in results_dir.glob("*/results.json"))
    browser = DevTools(chromium, tmp_path / "profile")
    try:
        page = next(t for t in browser.call("Target.getTargets")["targetInfos"] if t["type"] == "page")
        session = browser.call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable", session=session)
        browser.call("Page.navigate", {"url": (results_dir / "index.html").as_uri()}, session=session)
        browser.wait(lambda m: m.get("method") == "Page.loadEventFired")
        links = browser.call(
            "Runtime.evaluate",
            {
                "expression": "JSON.stringify([...document.querySelectorAll('#runs a')].map(a => a.href))",
                "returnByValue": True,
            },
            session=session,
        )["result"]["value"]
    finally:
        browser.close()
    hrefs = json.loads(links)
    for run in runs:
        report = (results_dir / run / "report.html").as_uri()
        assert report in hrefs, f"{run} is not linked"
        assert (results_dir / run / "report.html").is_file()
    for href in hrefs:  # every link leads to a file that exists
        assert Path(href.removeprefix("file://")).is_file(), href
    errors = [e for e in browser.events if e["method"] in ("Runtime.exceptionThrown", "Log.entryAdded")]
    assert not [e for e in errors if e["method"] == "Runtime.exceptionThrown"], errors


@pytest.mark.unit
def test_a_compare_is_written_only_for_runs_with_a_measurement_in_common(tmp_path: Path) -> None:
    base = load_results(FIXTURE)
    faults = replace(base, records=tuple(r for r in base.records if r.scenario == "faults"))
    enqueue = tuple(r for r in base.records if r.scenario == "enqueue")
    at_lan = {"name": "lan", "rtt_ms": 0.5, "smtp_rtt_ms": 40.0, "proxied": True}
    runs = {
        "2026-11-01T10-00-00Z-aaaaaaa": faults,  # faults only
        "2026-11-02T10-00-00Z-bbbbbbb": replace(base, records=enqueue),  # enqueue only: nothing in common
        # the same enqueue measurements, at another network: nothing in common either
        "2026-11-03T10-00-00Z-ccccccc": replace(base, records=tuple(replace(r, network=at_lan) for r in enqueue)),
        "2026-11-04T10-00-00Z-ddddddd": faults,  # faults again: compared with the first run, two runs back
    }
    for run_id, results in runs.items():
        write_results(tmp_path / run_id / "results.json", results)
    first, second, third, fourth = runs
    # A page an older index wrote for a pair that shares nothing is removed when the index is rewritten.
    stale_page = tmp_path / "compare" / f"{first}..{second}.md"
    stale_page.parent.mkdir()
    stale_page.write_text("No measurement is present in both runs.\n")
    assert main(["index", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "compare").glob("*.md")) == [f"{first}..{fourth}.md"]
    rows = {line.split(" | ")[1]: line for line in (tmp_path / "index.md").read_text().splitlines() if "| 2026" in line}
    assert index.NOTHING_IN_COMMON in rows[f"[{second}]({second}/report.md)"]
    assert index.NOTHING_IN_COMMON in rows[f"[{third}]({third}/report.md)"]
    assert f"[vs {first}](compare/{first}..{fourth}.md)" in rows[f"[{fourth}]({fourth}/report.md)"]
    assert "first of its preset" in rows[f"[{first}]({first}/report.md)"]
    page = (tmp_path / "compare" / f"{first}..{fourth}.md").read_text()
    assert "No measurement is present in both runs" not in page
    assert index.stale(tmp_path) == []
