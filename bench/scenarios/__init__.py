"""Scenarios: what the harness measures, one module per scenario, and the presets that size them.

A scenario is one unit: its declaration (:class:`~bench.scenarios.unit.Scenario` in
:mod:`bench.scenarios.registry`: what it measures, the preset keys it owns, the tasks it needs, its method text, its
figures and report section) and its run code in ``bench/scenarios/<name>.py`` (``run(session)`` against the small
session interface :class:`~bench.scenarios.session.ScenarioSession`), imported only when a session runs it.
:data:`REGISTRY` lists them in the order a session runs them. Importing this package imports no harness code. The
runner keeps only the session lifecycle.

The presets (``bench/presets.toml``) are loaded and validated by :mod:`bench.scenarios.preset`; its names are
re-exported here.
"""

from __future__ import annotations

from bench.errors import UsageError
from bench.scenarios.keys import SESSION_KEYS
from bench.scenarios.preset import (
    FAULT_PROFILES,
    MEASURED_TASKS,
    MIN_IDLE_PICKUP_SAMPLES,
    PRESETS_FILE,
    Preset,
    load_presets,
    parse_preset,
)
from bench.scenarios.registry import REGISTRY
from bench.scenarios.unit import NOOP_ONLY, Scenario

__all__ = [
    "FAULT_PROFILES",
    "FAULT_SCENARIOS",
    "MEASURED_TASKS",
    "MIN_IDLE_PICKUP_SAMPLES",
    "PER_PROCESS_COUNT",
    "PRESETS_FILE",
    "PROXIED_ONLY",
    "REGISTRY",
    "REQUIRED_TASKS",
    "SCENARIOS",
    "SESSION_PRESET_KEYS",
    "Preset",
    "Scenario",
    "load_presets",
    "parse_preset",
    "runs_on",
    "select_scenarios",
]

#: Preset keys the session lifecycle itself reads (run order, warm-up, drains), beside each scenario's own.
SESSION_PRESET_KEYS = tuple(key.name for key in SESSION_KEYS)

#: Every scenario a session runs, with what it measures (the ``--scenarios`` choices, shown by ``--help``).
SCENARIOS: dict[str, str] = {name: unit.description for name, unit in REGISTRY.items() if unit.in_session}

#: The tasks a backend must implement for a scenario to run on it (the Redis floor only has noop); scenarios not
#: listed need only noop.
REQUIRED_TASKS: dict[str, frozenset[str]] = {
    name: unit.required_tasks for name, unit in REGISTRY.items() if unit.required_tasks != NOOP_ONLY
}

#: Scenarios that run once per backend (not per repetition) in the fault profiles, at the default process count.
FAULT_SCENARIOS = tuple(name for name, unit in REGISTRY.items() if unit.fault)

#: Scenarios that run at every worker process count of the preset (the others at its default count).
PER_PROCESS_COUNT = frozenset(name for name, unit in REGISTRY.items() if unit.per_process_count)

#: Scenarios that only mean something through the delay proxy (they read its counters or its delayed hop).
PROXIED_ONLY = frozenset(name for name, unit in REGISTRY.items() if unit.proxied_only)


def runs_on(scenario: str, tasks: tuple[str, ...]) -> bool:
    """Whether a backend implementing ``tasks`` can run ``scenario``."""
    return REQUIRED_TASKS.get(scenario, NOOP_ONLY) <= set(tasks)


def select_scenarios(names: list[str] | None) -> tuple[str, ...]:
    """The scenarios to run, in session order (``all``: every one); unknown names are a one-line error listing the
    valid ones."""
    if not names or names == ["all"]:
        return tuple(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise UsageError(f"unknown scenario(s): {', '.join(unknown)}; valid: {', '.join(SCENARIOS)}")
    return tuple(n for n in SCENARIOS if n in names)
