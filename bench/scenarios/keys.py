"""Preset keys as declarations: a name, what it means, how its value is checked and converted, and its default.

Each scenario declares the keys it owns (``keys`` of its :class:`~bench.scenarios.unit.Scenario` in
:mod:`bench.scenarios.registry`); the session lifecycle's own keys are :data:`SESSION_KEYS` here. The
:class:`~bench.scenarios.preset.Preset` is built from these declarations, so a key is written once: here or in its
scenario's entry, and its value in ``bench/presets.toml``. Imports nothing of the harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.errors import UsageError

#: Shop tasks the harness can enqueue, with the arguments the producer builds for them.
MEASURED_TASKS = ("noop", "send_invoice_email", "import_products", "build_sales_report")

#: Profiles the fault scenarios may run in (a preset's ``fault_profiles`` picks): the library alone (``bare``, which
#: says whether a finding is the library's or its Django integration's), library defaults as the integration ships
#: them, and each library's documented at-least-once settings with timeouts shortened by configuration.
FAULT_PROFILES = ("bare", "shipped", "safe")

#: Fewest idle-pickup samples per idle period: one sample of a polling consumer is a coin toss.
MIN_IDLE_PICKUP_SAMPLES = 20

#: A key without a default must be in every preset.
REQUIRED: Any = object()

#: Checks a raw TOML value of the named key and returns the preset's value; a bad value raises ``UsageError``.
Parse = Callable[[str, Any], Any]


@dataclass(frozen=True, eq=False)  # hashed by identity: a default may be a dict
class Key:
    """One preset key: its name, its meaning, how a value is checked and converted, its default."""

    name: str
    parse: Parse
    #: What it sizes, in one line (the documentation of ``presets.toml``).
    doc: str
    #: Python type of the converted value (the Preset's field type).
    type: type = object
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        """Whether every preset must give it."""
        return self.default is REQUIRED

    def value(self, raw: Any) -> Any:
        """The preset's value of a raw TOML value."""
        return self.parse(self.name, raw)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def integer(minimum: int = 1) -> Parse:
    """An integer >= ``minimum``."""

    def parse(name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise UsageError(f"{name!r} must be an integer >= {minimum}, got {value!r}")
        return value

    return parse


def positive(name: str, value: Any) -> float:
    """A number > 0."""
    if not _is_number(value) or value <= 0:
        raise UsageError(f"{name!r} must be a positive number, got {value!r}")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    """A number >= 0."""
    if not _is_number(value) or value < 0:
        raise UsageError(f"{name!r} must be a number >= 0, got {value!r}")
    return float(value)


def flag(name: str, value: Any) -> bool:
    """true or false."""
    return bool(value)


def tasks(name: str, value: Any) -> tuple[str, ...]:
    """A non-empty list of measured task names."""
    if not isinstance(value, list) or not value:
        raise UsageError(f"{name!r} must be a non-empty list of task names")
    unknown = sorted(set(value) - set(MEASURED_TASKS))
    if unknown:
        raise UsageError(
            f"preset key {name!r}: unknown task(s) {', '.join(unknown)}; valid: {', '.join(MEASURED_TASKS)}"
        )
    return tuple(value)


def names(name: str, value: Any) -> tuple[str, ...]:
    """A list of names (empty allowed); which names are valid is checked where they are known."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UsageError(f"{name!r} must be a list of names, got {value!r}")
    return tuple(value)


def task_counts(name: str, value: Any) -> dict[str, int]:
    """A table task = count (empty allowed)."""
    if not isinstance(value, dict):
        raise UsageError(f"{name!r} must be a table task = count")
    if value:
        tasks(name, list(value))
    return {task: integer()(f"{name}.{task}", n) for task, n in value.items()}


def each(parse: Parse) -> Parse:
    """A list, each item checked by ``parse``."""

    def parse_list(name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise UsageError(f"{name!r} must be a list, got {value!r}")
        return tuple(parse(name, item) for item in value)

    return parse_list


def subset(choices: tuple[str, ...], what: str) -> Parse:
    """A non-empty list of some of ``choices``; ``what`` words the error."""

    def parse(name: str, value: Any) -> tuple[str, ...]:
        found = tuple(value) if isinstance(value, list) else ()
        if not found or set(found) - set(choices):
            raise UsageError(f"{name!r} must list {what}")
        return found

    return parse


#: Keys the session lifecycle itself reads (run order, warm-up, drains), beside each scenario's own.
SESSION_KEYS: tuple[Key, ...] = (
    Key("repetitions", integer(), "sessions per backend, profile and process count", int),
    Key("processes", each(integer()), "worker process counts of the per-process-count scenarios", tuple),
    Key("default_processes", integer(), "worker process count of every other scenario (one of processes)", int),
    Key("warmup_tasks", integer(0), "noops before measuring; their rate is the first estimate that sizes windows", int),
    Key("drain_timeout_s", positive, "how long a drain waits for its tasks before the record fails", float),
    # A preset's time budget may leave whole scenarios to a longer preset; the report names them and how to ask.
    Key("left_out", names, "scenarios the preset skips unless --scenarios names them (its time budget)", tuple, ()),
)


def check_session(values: dict[str, Any]) -> str | None:
    """The session keys together: distinct process counts, the default one of them."""
    processes = values["processes"]
    if not processes or len(set(processes)) != len(processes):
        return "'processes' must be a non-empty list of distinct counts"
    if values["default_processes"] not in processes:
        return f"default_processes={values['default_processes']} is not one of processes={processes}"
    return None
