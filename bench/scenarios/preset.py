"""Presets: how much each scenario measures, as data.

A preset (``bench/presets.toml``) fixes every workload size; each scenario module names the keys it reads
(``PRESET_KEYS``). Loading validates everything up front so that an impossible combination fails before any worker
starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UsageError

#: The shipped presets (beside the harness, not inside this package: they are data, edited on their own).
PRESETS_FILE = Path(__file__).resolve().parent.parent / "presets.toml"

#: Shop tasks the harness can enqueue, with the arguments the producer builds for them.
MEASURED_TASKS = ("noop", "send_invoice_email", "import_products", "build_sales_report")

#: Profiles the fault scenarios may run in (a preset's ``fault_profiles`` picks): the library alone (``bare``, which
#: says whether a finding is the library's or its Django integration's), library defaults as the integration ships
#: them, and each library's documented at-least-once settings with timeouts shortened by configuration.
FAULT_PROFILES = ("bare", "shipped", "safe")

#: Fewest idle-pickup samples per idle period: one sample of a polling consumer is a coin toss.
MIN_IDLE_PICKUP_SAMPLES = 20


@dataclass(frozen=True, kw_only=True)
class Preset:
    """Workload sizes of one preset; see ``presets.toml`` for the shipped values.

    Throughput is measured over time: ``throughput_warmup_s`` after the first completion are left out, and the steady
    window that follows must last at least ``throughput_steady_s`` (else the record is ``too_short``, not ranked).
    ``max_window_tasks`` caps how many tasks a window is sized to; ``concurrent_tasks`` maps each shop task measured
    while workers consume to the number of calibration tasks that first estimate its rate. ``idle_pickup_samples``
    single tasks are timed per idle period; worker memory is sampled every ``resource_interval_s``.
    """

    name: str
    repetitions: int
    processes: tuple[int, ...]
    default_processes: int
    warmup_tasks: int
    enqueue_count: int
    enqueue_tasks: tuple[str, ...]
    microbench: bool
    throughput_warmup_s: float
    throughput_steady_s: float
    max_window_tasks: int
    concurrent_tasks: dict[str, int] = field(default_factory=dict)
    import_rows: int
    latency_rates: tuple[int, ...]
    latency_duration_s: float
    latency_bound_ms: float
    idle_pickup_s: tuple[float, ...]
    idle_pickup_samples: int
    resource_interval_s: float
    drain_timeout_s: float
    retry_tasks: int
    retry_window_s: float
    fault_window_s: float
    long_task_s: float
    queued_tasks: int
    redis_persistence: tuple[str, ...]
    redis_down_s: float
    redis_crash: bool
    down_enqueue_timeout_s: float
    fault_profiles: tuple[str, ...]
    eventual_window_s: float
    long_delay_s: float

    def as_dict(self) -> dict[str, Any]:
        """The preset as recorded in the results file."""
        return {
            "name": self.name,
            "repetitions": self.repetitions,
            "processes": list(self.processes),
            "default_processes": self.default_processes,
            "warmup_tasks": self.warmup_tasks,
            "enqueue_count": self.enqueue_count,
            "enqueue_tasks": list(self.enqueue_tasks),
            "microbench": self.microbench,
            "throughput_warmup_s": self.throughput_warmup_s,
            "throughput_steady_s": self.throughput_steady_s,
            "max_window_tasks": self.max_window_tasks,
            "concurrent_tasks": dict(self.concurrent_tasks),
            "import_rows": self.import_rows,
            "latency_rates": list(self.latency_rates),
            "latency_duration_s": self.latency_duration_s,
            "latency_bound_ms": self.latency_bound_ms,
            "idle_pickup_s": list(self.idle_pickup_s),
            "idle_pickup_samples": self.idle_pickup_samples,
            "resource_interval_s": self.resource_interval_s,
            "drain_timeout_s": self.drain_timeout_s,
            "retry_tasks": self.retry_tasks,
            "retry_window_s": self.retry_window_s,
            "fault_window_s": self.fault_window_s,
            "long_task_s": self.long_task_s,
            "queued_tasks": self.queued_tasks,
            "redis_persistence": list(self.redis_persistence),
            "redis_down_s": self.redis_down_s,
            "redis_crash": self.redis_crash,
            "eventual_window_s": self.eventual_window_s,
            "long_delay_s": self.long_delay_s,
            "down_enqueue_timeout_s": self.down_enqueue_timeout_s,
            "fault_profiles": list(self.fault_profiles),
        }


def _positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"preset key {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def _positive_number(name: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise UsageError(f"preset key {name!r} must be a positive number, got {value!r}")
    return float(value)


def _non_negative_number(name: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise UsageError(f"preset key {name!r} must be a number >= 0, got {value!r}")
    return float(value)


def _tasks(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise UsageError(f"preset key {name!r} must be a non-empty list of task names")
    unknown = sorted(set(value) - set(MEASURED_TASKS))
    if unknown:
        raise UsageError(
            f"preset key {name!r}: unknown task(s) {', '.join(unknown)}; valid: {', '.join(MEASURED_TASKS)}"
        )
    return tuple(value)


def parse_preset(name: str, data: dict[str, Any]) -> Preset:
    """Validate one preset table; every impossible combination is a ``UsageError`` here, not a failure later."""
    known = set(Preset.__dataclass_fields__) - {"name"}
    unknown_keys = sorted(set(data) - known)
    if unknown_keys:
        raise UsageError(f"preset {name!r}: unknown key(s) {', '.join(unknown_keys)}")
    missing = sorted(known - set(data))
    if missing:
        raise UsageError(f"preset {name!r}: missing key(s) {', '.join(missing)}")
    processes = tuple(_positive_int("processes", p) for p in data["processes"])
    if not processes or len(set(processes)) != len(processes):
        raise UsageError(f"preset {name!r}: 'processes' must be a non-empty list of distinct counts")
    default_processes = _positive_int("default_processes", data["default_processes"])
    if default_processes not in processes:
        raise UsageError(f"preset {name!r}: default_processes={default_processes} is not one of processes={processes}")
    concurrent = data["concurrent_tasks"]
    if not isinstance(concurrent, dict):
        raise UsageError(f"preset {name!r}: 'concurrent_tasks' must be a table task = count")
    if concurrent:  # empty: no shop-task throughput (the quick preset)
        _tasks("concurrent_tasks", list(concurrent))
    rates = tuple(_positive_int("latency_rates", r) for r in data["latency_rates"])
    if list(rates) != sorted(set(rates)):
        raise UsageError(f"preset {name!r}: 'latency_rates' must be strictly increasing")
    warmup = _positive_int("warmup_tasks", data["warmup_tasks"], minimum=0)
    throughput_warmup = data["throughput_warmup_s"]
    if not isinstance(throughput_warmup, int | float) or isinstance(throughput_warmup, bool) or throughput_warmup < 0:
        raise UsageError(f"preset {name!r}: 'throughput_warmup_s' must be a number >= 0, got {throughput_warmup!r}")
    steady = _positive_number("throughput_steady_s", data["throughput_steady_s"])
    interval = _positive_number("resource_interval_s", data["resource_interval_s"])
    # The load readings of a window must be a sample, not one reading.
    if interval * 5 > steady:
        raise UsageError(
            f"preset {name!r}: resource_interval_s ({interval:g}) must give >= 5 readings in throughput_steady_s"
        )
    idle_samples = _positive_int("idle_pickup_samples", data["idle_pickup_samples"], minimum=MIN_IDLE_PICKUP_SAMPLES)
    persistence = tuple(data["redis_persistence"])
    if not persistence or set(persistence) - {"none", "aof"}:
        raise UsageError(f"preset {name!r}: 'redis_persistence' must list 'none' and/or 'aof'")
    fault_profiles = tuple(data["fault_profiles"])
    if not fault_profiles or set(fault_profiles) - set(FAULT_PROFILES):
        raise UsageError(f"preset {name!r}: 'fault_profiles' must list some of {', '.join(FAULT_PROFILES)}")
    retry_window = _positive_number("retry_window_s", data["retry_window_s"])
    # The policy's 3 retries 1 s apart need > 3 s; less could not tell a missing retry from a slow one.
    if retry_window < 5:
        raise UsageError(f"preset {name!r}: retry_window_s must be >= 5 s to observe 3 retries 1 s apart")
    return Preset(
        name=name,
        repetitions=_positive_int("repetitions", data["repetitions"]),
        processes=processes,
        default_processes=default_processes,
        warmup_tasks=warmup,
        enqueue_count=_positive_int("enqueue_count", data["enqueue_count"]),
        enqueue_tasks=_tasks("enqueue_tasks", data["enqueue_tasks"]),
        microbench=bool(data["microbench"]),
        throughput_warmup_s=float(throughput_warmup),
        throughput_steady_s=steady,
        max_window_tasks=_positive_int("max_window_tasks", data["max_window_tasks"], minimum=100),
        concurrent_tasks={task: _positive_int(f"concurrent_tasks.{task}", n) for task, n in concurrent.items()},
        import_rows=_positive_int("import_rows", data["import_rows"]),
        latency_rates=rates,
        latency_duration_s=_positive_number("latency_duration_s", data["latency_duration_s"]),
        latency_bound_ms=_positive_number("latency_bound_ms", data["latency_bound_ms"]),
        idle_pickup_s=tuple(_positive_number("idle_pickup_s", s) for s in data["idle_pickup_s"]),
        idle_pickup_samples=idle_samples,
        resource_interval_s=interval,
        drain_timeout_s=_positive_number("drain_timeout_s", data["drain_timeout_s"]),
        retry_tasks=_positive_int("retry_tasks", data["retry_tasks"]),
        retry_window_s=retry_window,
        fault_window_s=_positive_number("fault_window_s", data["fault_window_s"]),
        long_task_s=_positive_number("long_task_s", data["long_task_s"]),
        queued_tasks=_positive_int("queued_tasks", data["queued_tasks"]),
        redis_persistence=persistence,
        redis_down_s=_positive_number("redis_down_s", data["redis_down_s"]),
        redis_crash=bool(data["redis_crash"]),
        eventual_window_s=_non_negative_number("eventual_window_s", data["eventual_window_s"]),
        long_delay_s=_non_negative_number("long_delay_s", data["long_delay_s"]),
        down_enqueue_timeout_s=_positive_number("down_enqueue_timeout_s", data["down_enqueue_timeout_s"]),
        fault_profiles=fault_profiles,
    )


def load_presets(path: Path = PRESETS_FILE) -> dict[str, Preset]:
    """All presets of a presets file, validated."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read presets file {path}: {exc}") from exc
    return {name: parse_preset(name, table) for name, table in raw.items()}
