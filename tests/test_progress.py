"""Progress of a run: plain flushed lines when the output is not a terminal, a rich bar when it is, and an ETA."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bench.backends import get_backend, load_baseline
from bench.progress import RunProgress, format_duration, plan_estimates
from bench.runner import SessionSpec
from bench.scenarios import load_presets

REPO = Path(__file__).resolve().parent.parent
SMOKE = load_presets()["smoke"]
STAMP = re.compile(r"^\[(\d+:\d\d:\d\d) elapsed, ETA ~(\d+:\d\d:\d\d)\] ")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(
    backend: str, processes: int = 1, repetition: int = 0, scenarios: tuple[str, ...] = ("enqueue",)
) -> SessionSpec:
    chosen = load_baseline() if backend == "redis-baseline" else get_backend(backend)
    return SessionSpec(chosen, "shipped", processes, repetition, scenarios)


def plain(sessions: list[SessionSpec], clock: Clock) -> tuple[RunProgress, io.StringIO]:
    out = io.StringIO()
    tracker = RunProgress(sessions, SMOKE, console=Console(file=io.StringIO()), live=False, stream=out, clock=clock)
    return tracker, out


@pytest.mark.unit
def test_plain_lines_for_each_session_and_scenario_start_and_end() -> None:
    clock = Clock()
    a, b = spec("huey", scenarios=("enqueue", "latency")), spec("redis-baseline")
    tracker, out = plain([a, b], clock)
    with tracker:
        tracker.session_started(a)
        report = tracker.reporter(a)
        clock.now += 20
        report(f"{a.label}: enqueue")
        clock.now += 2.5
        report(f"{a.label}: backlog 10/50")  # a detail: shown on a terminal's bar, never as a line
        report(f"{a.label}: latency")
        clock.now += 4
        tracker.session_finished(a, [{"status": "ok"}, {"status": "failed"}])
    lines = out.getvalue().splitlines()
    assert [STAMP.sub("", line) for line in lines] == [
        f"session 1/2 started: {a.label} (estimate {format_duration(tracker.estimates[a.label])})",
        f"{a.label}: enqueue started",
        f"{a.label}: enqueue done in 2.5 s",
        f"{a.label}: latency started",
        f"{a.label}: latency done in 4.0 s",
        f"session 1/2 done: {a.label} in 0:00:26, 1 failed record(s)",
    ]
    stamps = [STAMP.match(line) for line in lines]
    assert all(stamps) and [m.group(1) for m in stamps if m] == [
        "0:00:00",
        "0:00:20",
        "0:00:22",
        "0:00:22",
        "0:00:26",
        "0:00:26",
    ]


@pytest.mark.unit
def test_eta_follows_the_estimates_and_corrects_itself_by_backend() -> None:
    clock = Clock()
    h1, h2 = (spec("huey", processes=p) for p in (1, 2))
    b1, b2 = (spec("redis-baseline", processes=p) for p in (1, 2))
    tracker, _ = plain([h1, h2, b1, b2], clock)
    est = tracker.estimates
    assert tracker.eta_s() == pytest.approx(est[h1.label] + est[h2.label] + est[b1.label] + est[b2.label])
    # Huey's first session takes twice its estimate: so will its next, and, until one of theirs has finished, the
    # floor's sessions (the run's ratio so far).
    tracker.session_started(h1)
    clock.now += 2 * est[h1.label]
    tracker.session_finished(h1)
    assert tracker.eta_s() == pytest.approx(2 * (est[h2.label] + est[b1.label] + est[b2.label]))
    # The floor's first session takes its estimate: its own ratio (1) replaces the run's.
    tracker.session_started(b1)
    clock.now += est[b1.label]
    tracker.session_finished(b1)
    assert tracker.eta_s() == pytest.approx(2 * est[h2.label] + est[b2.label])
    # A running session counts with what is left of it.
    tracker.session_started(h2)
    clock.now += est[h2.label]
    assert tracker.eta_s() == pytest.approx(est[h2.label] + est[b2.label])


@pytest.mark.unit
def test_fault_sessions_of_different_backends_count_side_by_side() -> None:
    faults = ("retries", "faults")
    sessions = [spec("huey", scenarios=faults), spec("celery", scenarios=faults)]
    estimates = plan_estimates(sessions, SMOKE)
    parallel, _ = plain(sessions, Clock())
    assert parallel.eta_s() == pytest.approx(max(estimates.values()))
    serial = RunProgress(sessions, SMOKE, console=Console(file=io.StringIO()), live=False, parallel_faults=False)
    assert serial.eta_s() == pytest.approx(sum(estimates.values()))


@pytest.mark.unit
def test_only_the_first_session_of_a_backend_verifies() -> None:
    first, second = spec("huey", processes=1), spec("huey", processes=2)
    estimates = plan_estimates([first, second], SMOKE)
    again = plan_estimates([second], SMOKE)
    assert again[second.label] > estimates[second.label]  # alone it verifies and prepares; second in line it does not


@pytest.mark.unit
def test_terminal_draws_the_bar_with_eta_and_prints_session_lines_above_it() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200)
    a = spec("redis-baseline")
    with RunProgress([a], SMOKE, console=console) as tracker:
        assert tracker.live
        tracker.session_started(a)
        tracker.reporter(a)(f"{a.label}: enqueue")
        tracker.session_finished(a)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert f"session 1/1 done: {a.label}" in text and "1/1" in text and "ETA ~" in text
    assert f"{a.label}: enqueue started" not in text  # scenario lines are for logs; the bar shows the scenario


def test_a_run_with_output_to_a_file_shows_progress_while_it_runs(tmp_path: Path) -> None:
    """As ``nox -s bench -- … > log 2>&1 &``: lines arrive before the run ends, and the end names both reports."""
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "projects")])}
    argv = [
        "--preset",
        "smoke",
        "--backends",
        "redis-baseline",
        "--scenarios",
        "enqueue,latency",
        "--out",
        str(tmp_path),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        seen_while_running = []
        for line in proc.stderr:
            if STAMP.match(line):
                seen_while_running.append((line.strip(), proc.poll() is None))
            if "session 1/1 done" in line:
                break
        rest = proc.stderr.read()
        assert proc.wait(timeout=300) == 0, rest
    finally:
        proc.kill()
        proc.wait()
    texts = [STAMP.sub("", line) for line, _ in seen_while_running]
    assert re.fullmatch(r"session 1/1 started: redis-baseline/shipped p=1 rep 1 \(estimate \d:\d\d:\d\d\)", texts[1])
    assert "redis-baseline/shipped p=1 rep 1: latency started" in texts
    assert all(running for _, running in seen_while_running[:-1]), seen_while_running
    assert f"report: {tmp_path / 'report.md'}\n        {tmp_path / 'report.html'}\n" in rest
    assert "PosixPath" not in rest
