"""What a scenario is: one :class:`Scenario` per module of this package, listed once in ``bench/scenarios/__init__``.

A scenario module holds everything the harness knows about its scenario except the report's rendering code: what
it measures (``DESCRIPTION``, shown by ``--help``), which preset keys it reads, which tasks a backend needs for it,
its ``run(session)`` and the names of its report section and derived figures. The report half stays in
``bench/report`` (a report is a pure function of a results file and never imports the harness), reached from here
by name; ``tests/test_harness_units.py`` checks that every name resolves.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.scenarios.preset import Preset
    from bench.scenarios.session import ScenarioSession

#: Most scenarios need nothing but the noop task (the Redis floor has only that one).
NOOP_ONLY = frozenset({"noop"})


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One scenario: its parameters, run, derived figures and report section, together."""

    name: str
    #: What it measures, in one sentence (``--help`` and the report's scenario list).
    description: str
    #: Runs the scenario in a session with warm workers; ``None``: recorded by another scenario's run
    #: (``resources`` is sampled during the throughput drain).
    run: Callable[[ScenarioSession], None] | None
    #: The preset keys (``bench/presets.toml``, :class:`~bench.scenarios.preset.Preset`) it reads.
    preset_keys: tuple[str, ...]
    #: Its rough duration in one session (preset, worker processes, the backend's tasks), for the progress display's
    #: ETA (:mod:`bench.progress`); ``None``: no time of its own.
    estimate: Callable[[Preset, int, tuple[str, ...]], float] | None = None
    #: How it is measured, for the report's Method section (``{preset_key}`` placeholders are filled with the
    #: run's preset values); keep it true when ``run`` changes.
    method: str = ""
    #: The report section module (``TITLE`` and ``details(ctx, records)``) that renders its records.
    section: str
    #: Functions (``module.name``) that compute its figures from records, beside its entries in
    #: :data:`bench.report.metrics.METRICS` (which are keyed by scenario name).
    derived: tuple[str, ...] = ()
    #: Record scenario names it writes besides its own (``enqueue`` also writes ``enqueue_microbench``).
    also_records: tuple[str, ...] = ()
    #: Tasks a backend must implement for it to run there.
    required_tasks: frozenset[str] = NOOP_ONLY
    #: Runs at every worker process count of the preset (else only at ``default_processes``).
    per_process_count: bool = False
    #: Runs once per backend in the preset's ``fault_profiles`` (not per repetition).
    fault: bool = False
    #: ``False``: its records are written outside the sessions (by the command line after them, e.g. a counting pass
    #: on a cluster of its own); it is no ``--scenarios`` choice and no session plans it, but the report shows it in
    #: registry order like any other.
    in_session: bool = True
    #: Only on a network through the delay proxy (it reads the proxy's counters); a direct session leaves it out.
    proxied_only: bool = False

    def runs_on(self, tasks: tuple[str, ...]) -> bool:
        """Whether a backend implementing ``tasks`` can run it."""
        return self.required_tasks <= set(tasks)

    def section_module(self) -> ModuleType:
        """Its report section, imported on demand (the harness does not load the report to run)."""
        return importlib.import_module(self.section)

    def derived_functions(self) -> list[Callable[..., Any]]:
        """Its derived-figure functions, imported on demand."""
        found = []
        for dotted in self.derived:
            module, _, name = dotted.rpartition(".")
            found.append(getattr(importlib.import_module(module), name))
        return found
