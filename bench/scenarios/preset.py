"""Presets: how much each scenario measures, as data.

A preset (a table of ``bench/presets.toml``) gives a value to every key the scenarios declare
(:mod:`bench.scenarios.registry`, each key a :class:`~bench.scenarios.keys.Key`) and the session lifecycle's own
(:data:`~bench.scenarios.keys.SESSION_KEYS`); :class:`Preset` is built from those declarations, so a key is written
once there and its values here. Loading validates everything up front so that an impossible combination fails before
any worker starts.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.scenarios.keys import (
    FAULT_PROFILES,
    MEASURED_TASKS,
    MIN_IDLE_PICKUP_SAMPLES,
    SESSION_KEYS,
    Key,
    check_session,
)
from bench.scenarios.registry import REGISTRY
from bench.scenarios.unit import PresetCheck, Scenario

__all__ = [
    "FAULT_PROFILES",
    "MEASURED_TASKS",
    "MIN_IDLE_PICKUP_SAMPLES",
    "PRESETS_FILE",
    "Preset",
    "load_presets",
    "parse_preset",
    "preset_class",
    "preset_keys",
]

#: The shipped presets (beside the harness, not inside this package: they are data, edited on their own).
PRESETS_FILE = Path(__file__).resolve().parent.parent / "presets.toml"


def preset_keys(registry: Mapping[str, Scenario] = REGISTRY) -> tuple[Key, ...]:
    """Every key of a preset: the session's, then each scenario's in registry order; a key declared twice is an
    error (one place per key)."""
    keys = [*SESSION_KEYS, *(key for scenario in registry.values() for key in scenario.keys)]
    names = [key.name for key in keys]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"preset key(s) declared more than once: {', '.join(twice)}")
    return tuple(keys)


class Preset:
    """Workload sizes of one preset: ``name`` and a field per declared key (:func:`preset_keys`); see
    ``presets.toml`` for the shipped values. The class of a loaded preset is a frozen dataclass made from the keys
    (:func:`preset_class`), a subclass of this one."""

    name: str

    def as_dict(self) -> dict[str, Any]:
        """The preset as recorded in the results file (lists for tuples)."""
        recorded: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            recorded[f.name] = value
        return recorded


@cache
def preset_class(keys: tuple[Key, ...]) -> type[Preset]:
    """The frozen dataclass of presets with these keys (one field each, in order, after ``name``)."""
    fields = [("name", str), *((key.name, key.type) for key in keys)]
    made = dataclasses.make_dataclass("Preset", fields, bases=(Preset,), frozen=True, kw_only=True)
    made.__module__ = __name__
    return made


def parse_preset(name: str, data: dict[str, Any], registry: Mapping[str, Scenario] = REGISTRY) -> Preset:
    """Validate one preset table; every impossible combination is a ``UsageError`` here, not a failure later."""
    keys = preset_keys(registry)
    by_name = {key.name: key for key in keys}
    unknown_keys = sorted(set(data) - set(by_name))
    if unknown_keys:
        raise UsageError(f"preset {name!r}: unknown key(s) {', '.join(unknown_keys)}")
    missing = sorted(n for n, key in by_name.items() if key.required and n not in data)
    if missing:
        raise UsageError(f"preset {name!r}: missing key(s) {', '.join(missing)}")
    try:
        values = {n: key.value(data[n]) if n in data else key.default for n, key in by_name.items()}
    except UsageError as exc:
        raise UsageError(f"preset {name!r}: {exc}") from None
    unknown = sorted(set(values.get("left_out", ())) - set(registry))
    if unknown:
        raise UsageError(f"preset {name!r}: 'left_out' names unknown scenario(s) {', '.join(unknown)}")
    checks: list[PresetCheck] = [check_session, *(c for scenario in registry.values() for c in scenario.checks)]
    for check in checks:
        problem = check(values)
        if problem:
            raise UsageError(f"preset {name!r}: {problem}")
    return preset_class(keys)(name=name, **values)


def load_presets(path: Path = PRESETS_FILE, registry: Mapping[str, Scenario] = REGISTRY) -> dict[str, Preset]:
    """All presets of a presets file, validated."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read presets file {path}: {exc}") from exc
    return {name: parse_preset(name, table, registry) for name, table in raw.items()}
