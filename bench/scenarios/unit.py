"""What a scenario is: one :class:`Scenario` declaration per scenario, all listed in :mod:`bench.scenarios.registry`.

A declaration says everything the harness and the report know about a scenario: what it measures
(``description``, shown by ``--help``), the preset keys it owns (:class:`~bench.scenarios.keys.Key`: type, default,
check), which tasks a backend needs for it, how it is measured (``method``), which reported figures it provides
(names of report figures) and its report section. Its run code is named by module path
(``"bench.scenarios.enqueue:run"``) and imported only when a session runs it, so importing the declarations imports
no harness code and the report (a pure function of a results file) can read them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bench.scenarios.keys import Key

if TYPE_CHECKING:
    from bench.scenarios.preset import Preset
    from bench.scenarios.session import ScenarioSession

#: Most scenarios need nothing but the noop task (the Redis floor has only that one).
NOOP_ONLY = frozenset({"noop"})

#: A check of a preset's values taken together (keys of several scenarios, or a key against another): the error
#: text, or None when they fit.
PresetCheck = Callable[[dict[str, Any]], str | None]


def resolve(path: str) -> Any:
    """The object a ``"package.module:name"`` path names, imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One scenario: its parameters, run, method, figures and report section, declared together."""

    name: str
    #: What it measures, in one sentence (``--help`` and the report's scenario list).
    description: str
    #: ``"module:function"`` running it in a session with warm workers (``function(session)``); ``None``: recorded by
    #: another scenario's run (``resources`` is sampled during the throughput drain) or outside the sessions.
    run_at: str | None
    #: The preset keys it owns (``bench/presets.toml`` holds their values).
    keys: tuple[Key, ...] = ()
    #: Other keys its run or method text reads (owned by the session or another scenario).
    reads: tuple[str, ...] = ()
    #: Checks of the preset's values together, run when a preset is loaded.
    checks: tuple[PresetCheck, ...] = ()
    #: ``"module:function"`` giving its rough duration in one session (preset, worker processes, the backend's
    #: tasks), for the progress display's ETA (:mod:`bench.progress`); ``None``: no time of its own.
    estimate_at: str | None = None
    #: How it is measured, for the report's Method section (``{preset_key}`` placeholders are filled with the
    #: run's preset values); keep it true when its run changes.
    method: str = ""
    #: The report section module (``TITLE`` and ``details(ctx, records)``) that renders its records; ``None``: a
    #: generic section with a table of its figures.
    section: str | None = None
    #: The reported figures it provides (names of report figures).
    figures: tuple[str, ...] = ()
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

    @property
    def preset_keys(self) -> tuple[str, ...]:
        """Names of the keys it owns."""
        return tuple(key.name for key in self.keys)

    @property
    def run(self) -> Callable[[ScenarioSession], None] | None:
        """Its run function, imported on demand; ``None`` without one."""
        return resolve(self.run_at) if self.run_at else None

    @property
    def estimate(self) -> Callable[[Preset, int, tuple[str, ...]], float] | None:
        """Its duration estimate, imported on demand; ``None`` without one."""
        return resolve(self.estimate_at) if self.estimate_at else None

    def runs_on(self, tasks: tuple[str, ...]) -> bool:
        """Whether a backend implementing ``tasks`` can run it."""
        return self.required_tasks <= set(tasks)

    def section_module(self) -> ModuleType | None:
        """Its report section, imported on demand (the harness does not load the report to run)."""
        return importlib.import_module(self.section) if self.section else None
