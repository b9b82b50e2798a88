"""The report's Details, one module per scenario: its section (and, where a scenario has one, its answer).

Each module has ``TITLE`` and ``details(ctx, records) -> list[Block]``. Which module renders which scenario is
said by the scenario itself (``section`` of its :class:`~bench.scenarios.unit.Scenario` in
``bench/scenarios/<name>.py``); a scenario without one, or a record of a scenario this harness no longer has, is
still shown, generically (:mod:`.generic`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bench.report.context import Context
from bench.report.model import Block
from bench.report.sections import generic
from bench.results import Record
from bench.scenarios import REGISTRY

Details = Callable[[Context, Sequence[Record]], list[Block]]


def section(scenario: str) -> tuple[str, Details]:
    """The heading and details renderer of a scenario; unknown scenarios get the generic table."""
    unit = REGISTRY.get(scenario)
    module = unit.section_module() if unit is not None else None
    if module is None:
        return f"Scenario {scenario}", generic.details
    return module.TITLE, module.details


#: scenario → (heading, details), in the report's reading order (the registry's).
SECTIONS: dict[str, tuple[str, Details]] = {name: section(name) for name in REGISTRY}
