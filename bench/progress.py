"""Progress of a benchmark run, visible wherever its output goes.

- On a terminal: a rich bar (sessions done of total, elapsed time, ETA) with the running session(s) and scenario.
- Anywhere else (a file, a pipe, CI, ``nox -s bench -- --quick > log 2>&1 &``): one plain line per session and
  scenario start and end, with the elapsed time and the ETA, flushed at once. rich draws nothing there.

The ETA comes from a rough model of each session's duration built from the preset's values (:func:`estimate_s`),
corrected as the run goes by the ratio of measured to estimated time of the sessions already finished: the same
backend's sessions of the same kind once one has finished (a backend's speed varies 30x between libraries), else
every backend's (performance and fault sessions apart: fault scenarios mostly wait out fixed windows). Fault
sessions of different backends run side by side (private Redis per backend), so that phase counts as long as its
longest backend. The model only needs to be right within a factor of about two: the correction carries it after
the first sessions. Against the reference run (full preset) it estimated 46 min for a run that took 31.

The session code reports through ``RunContext.progress(message)``: a message ``"<session label>: <scenario>"`` opens
a scenario (and closes the previous one); any other text is a detail shown on the bar only (e.g. a backlog count).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from bench.runner import SessionSpec
from bench.scenarios import FAULT_SCENARIOS, REGISTRY, SCENARIOS, Preset
from bench.scenarios.estimate import START_S, TASK_S

# -- the duration model ---------------------------------------------------------------------------------------------
# Rough constants (seconds) for a 2-core machine, from the reference run's session durations; the run corrects them.
# Each scenario's own estimate is the ``estimate`` of its unit (bench/scenarios/<name>.py), from the constants of
# bench/scenarios/estimate.py.
VERIFY_S = 15.0  # verification before measuring: once per backend, profile and repetition (Django backends)
PREPARE_S = 5.0  # migrations of a fresh database: once per backend, profile and kind of session


def scenario_estimate_s(scenario: str, preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration of one scenario in one session (seconds), for a backend implementing ``tasks``."""
    unit = REGISTRY.get(scenario)
    if unit is None or unit.estimate is None:
        return 0.0  # resources: measured during the throughput drain
    return unit.estimate(preset, processes, tasks)


def estimate_s(spec: SessionSpec, preset: Preset, *, verifies: bool, prepares: bool) -> float:
    """Rough duration of a whole session: start-up, verification and preparation when it does them, scenarios."""
    total = START_S + preset.warmup_tasks * TASK_S["noop"] / spec.processes
    if spec.backend.django:
        total += (VERIFY_S if verifies else 0.0) + (PREPARE_S if prepares else 0.0)
    return total + sum(scenario_estimate_s(s, preset, spec.processes, spec.backend.tasks) for s in spec.scenarios)


def is_fault_session(spec: SessionSpec) -> bool:
    """Whether a session runs the retry/fault scenarios (they run after all others, backends side by side)."""
    return bool(set(spec.scenarios) & set(FAULT_SCENARIOS))


def plan_estimates(sessions: list[SessionSpec], preset: Preset) -> dict[str, float]:
    """Estimated seconds per session label, knowing which session of the run order verifies and prepares first.

    Performance sessions run in the planned order, then the fault sessions; the first session of a backend,
    profile and repetition verifies, the first of a backend, profile and kind prepares a database.
    """
    order = [s for s in sessions if not is_fault_session(s)] + [s for s in sessions if is_fault_session(s)]
    verified: set[tuple[str, str, int]] = set()
    prepared: set[tuple[str, str, bool]] = set()
    estimates: dict[str, float] = {}
    for spec in order:
        vkey = (spec.backend.name, spec.profile, spec.repetition)
        pkey = (spec.backend.name, spec.profile, is_fault_session(spec))
        estimates[spec.label] = estimate_s(spec, preset, verifies=vkey not in verified, prepares=pkey not in prepared)
        verified.add(vkey)
        prepared.add(pkey)
    return estimates


def format_duration(seconds: float) -> str:
    """``0:04:05`` (hours always shown, so the column keeps its width)."""
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -- the tracker ----------------------------------------------------------------------------------------------------
@dataclass
class _Running:
    spec: SessionSpec
    number: int
    started: float
    scenario: str | None = None
    scenario_started: float = 0.0
    detail: str = ""


@dataclass
class _Totals:
    estimated: float = 0.0
    measured: float = 0.0

    def ratio(self) -> float:
        # Clamped: one odd session (a failed start, a crash) must not throw the ETA off by more than that.
        return min(4.0, max(0.25, self.measured / self.estimated)) if self.estimated > 0 else 1.0


@dataclass
class _State:
    pending: dict[str, SessionSpec]
    running: dict[str, _Running] = field(default_factory=dict)
    finished: int = 0
    #: Estimated and measured seconds of finished sessions, by (kind, backend) and by (kind, "") for all backends.
    totals: dict[tuple[bool, str], _Totals] = field(default_factory=dict)


class _EtaColumn(ProgressColumn):
    """The tracker's ETA, recomputed at every refresh of the bar."""

    def __init__(self, tracker: RunProgress) -> None:
        super().__init__()
        self.tracker = tracker

    def render(self, task: Any) -> Text:
        return Text(f"ETA ~{format_duration(self.tracker.eta_s())}", style="progress.remaining")


class RunProgress:
    """Tracks the sessions of a run and shows their progress: a rich bar on a terminal, plain lines otherwise.

    Thread-safe: fault sessions report from one thread per backend.
    """

    def __init__(
        self,
        sessions: list[SessionSpec],
        preset: Preset,
        *,
        console: Console,
        parallel_faults: bool = True,
        live: bool | None = None,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = len(sessions)
        self.estimates = plan_estimates(sessions, preset)
        self.parallel_faults = parallel_faults
        self.console = console
        #: Whether the rich bar is drawn (a real terminal); otherwise plain lines go to ``stream``.
        self.live = console.is_terminal and not console.is_dumb_terminal if live is None else live
        self.stream = stream if stream is not None else console.file
        self.clock = clock
        self.started = clock()
        self._lock = threading.RLock()
        self._state = _State(pending={s.label: s for s in sessions})
        self._progress: Progress | None = None
        self._task_id: Any = None

    # -- context: the bar lives while the sessions run --------------------------------------------------------------
    def __enter__(self) -> RunProgress:
        self.started = self.clock()
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]sessions"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                _EtaColumn(self),
                TextColumn("{task.fields[now]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task_id = self._progress.add_task("sessions", total=self.total, now="starting")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- what the run reports ---------------------------------------------------------------------------------------
    def note(self, message: str) -> None:
        """A run-level message (not tied to a session): always printed as a line."""
        self._line(message)

    def session_started(self, spec: SessionSpec) -> None:
        """A session begins (verification and start-up included)."""
        with self._lock:
            self._state.pending.pop(spec.label, None)
            number = self._state.finished + len(self._state.running) + 1
            self._state.running[spec.label] = _Running(spec, number, self.clock())
            estimate = self.estimates.get(spec.label, 0.0) * self._ratio(spec)
        self._line(f"session {number}/{self.total} started: {spec.label} (estimate {format_duration(estimate)})")

    def reporter(self, spec: SessionSpec) -> Callable[[str], None]:
        """The ``RunContext.progress`` callable for one session."""
        prefix = f"{spec.label}: "

        def report(message: str) -> None:
            rest = message.removeprefix(prefix)
            if rest in SCENARIOS:
                self._scenario_started(spec, rest)
            else:
                with self._lock:
                    running = self._state.running.get(spec.label)
                    if running is not None:
                        running.detail = rest
                self._refresh()

        return report

    def session_finished(self, spec: SessionSpec, records: Iterable[dict[str, Any]] = ()) -> None:
        """A session ended (its records are in); ``records`` with a failed status are counted in the line."""
        self._close_scenario(spec)
        with self._lock:
            running = self._state.running.pop(spec.label, None)
            elapsed = self.clock() - running.started if running is not None else 0.0
            for key in ((is_fault_session(spec), spec.backend.name), (is_fault_session(spec), "")):
                totals = self._state.totals.setdefault(key, _Totals())
                totals.estimated += self.estimates.get(spec.label, 0.0)
                totals.measured += elapsed
            self._state.finished += 1
            number = running.number if running is not None else self._state.finished
        failed = sum(1 for r in records if r.get("status") != "ok")
        outcome = f", {failed} failed record(s)" if failed else ""
        if self._progress is not None:
            self._progress.advance(self._task_id)
        self._line(f"session {number}/{self.total} done: {spec.label} in {format_duration(elapsed)}{outcome}")

    # -- the ETA ----------------------------------------------------------------------------------------------------
    def eta_s(self) -> float:
        """Estimated seconds until every session has finished."""
        with self._lock:
            now = self.clock()
            state = self._state
            perf_left = 0.0
            fault_left: dict[str, float] = {}
            for label, spec in state.pending.items():
                left = self.estimates.get(label, 0.0) * self._ratio(spec)
                if is_fault_session(spec):
                    fault_left[spec.backend.name] = fault_left.get(spec.backend.name, 0.0) + left
                else:
                    perf_left += left
            for label, running in state.running.items():
                expected = self.estimates.get(label, 0.0) * self._ratio(running.spec)
                left = max(0.0, expected - (now - running.started))
                if is_fault_session(running.spec):
                    name = running.spec.backend.name
                    fault_left[name] = fault_left.get(name, 0.0) + left
                else:
                    perf_left += left
        faults = max(fault_left.values(), default=0.0) if self.parallel_faults else sum(fault_left.values())
        return perf_left + faults

    # -- internals --------------------------------------------------------------------------------------------------
    def _ratio(self, spec: SessionSpec) -> float:
        """Measured/estimated time of this backend's finished sessions of the same kind, else of every backend's."""
        kind = is_fault_session(spec)
        totals = self._state.totals.get((kind, spec.backend.name)) or self._state.totals.get((kind, ""))
        return totals.ratio() if totals is not None else 1.0

    def _scenario_started(self, spec: SessionSpec, scenario: str) -> None:
        self._close_scenario(spec)
        with self._lock:
            running = self._state.running.get(spec.label)
            if running is None:
                return
            running.scenario, running.scenario_started, running.detail = scenario, self.clock(), ""
        if not self.live:
            self._line(f"{spec.label}: {scenario} started")
        self._refresh()

    def _close_scenario(self, spec: SessionSpec) -> None:
        with self._lock:
            running = self._state.running.get(spec.label)
            if running is None or running.scenario is None:
                return
            scenario, took = running.scenario, self.clock() - running.scenario_started
            running.scenario = None
        if not self.live:
            self._line(f"{spec.label}: {scenario} done in {took:.1f} s")

    def _refresh(self) -> None:
        if self._progress is None:
            return
        with self._lock:
            parts = []
            for running in self._state.running.values():
                what = running.scenario or "starting"
                parts.append(f"{running.spec.label}: {what}" + (f" ({running.detail})" if running.detail else ""))
        self._progress.update(self._task_id, now=" · ".join(parts))

    def _line(self, message: str) -> None:
        """One line with the elapsed time and the ETA: above the bar on a terminal, flushed at once elsewhere."""
        stamp = f"[{format_duration(self.clock() - self.started)} elapsed, ETA ~{format_duration(self.eta_s())}]"
        if self._progress is not None:
            self._progress.console.print(f"{stamp} {message}", highlight=False, markup=False)
            self._refresh()
            return
        with self._lock:
            self.stream.write(f"{stamp} {message}\n")
            self.stream.flush()
