"""Retries: flaky tasks with the shop's retry policy and with library defaults. The code is in
:mod:`bench.faults.retries` (it shares the fault scenarios' channel accounting); this is its registry entry."""

from __future__ import annotations

from bench import faults
from bench.scenarios.estimate import START_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession


def run(session: ScenarioSession) -> None:
    """Flaky tasks with the shop's retry policy and with library defaults (bench/faults/retries.py)."""
    faults.run_retries(session)


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return START_S + preset.retry_window_s + 2.0
