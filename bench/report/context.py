"""What every report section needs: the run's context (labels, floors, profiles, latency bound) and small helpers.

Shared by the scorecard, the answers and the details, so that they name, order and select records the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.environment import key_versions
from bench.report import derived
from bench.report.figures import merged_percentiles
from bench.report.model import Block, Bullets, Paragraph
from bench.results import Record, RunResults
from bench.scenarios import REGISTRY

#: The Redis floor's name (a floor is never ranked; see :func:`bench.report.derived.is_floor`).
BASELINE = derived.REDIS_FLOOR

#: The scenarios of this harness in the report's reading order: the registry's (``bench/scenarios/__init__.py``).
KNOWN_SCENARIOS = tuple(REGISTRY)

#: Records that are not measurements: shown in the verification table and the failure notes, never as a section.
STATUS_SCENARIOS = ("verification", "session")

#: Shown inside another scenario's section.
FOLDED_SCENARIOS = {"enqueue_microbench": "enqueue"}

#: The fault kinds in reading order (others follow as found).
FAULT_ORDER = (
    ("sigkill", None),
    ("sigterm", None),
    ("redis_restart", "none"),
    ("redis_restart", "aof"),
    ("redis_crash", "aof"),
    ("redis_kill", "none"),
    ("redis_kill", "aof"),
    ("rabbitmq_restart", None),
    ("rabbitmq_crash", None),
    ("publish_during_restart", None),
    ("long_task", None),
    ("long_delay", None),
    ("transaction", None),
)

_PROFILE_ORDER = ("bare", "shipped", "tuned", "safe", "io")

DEFAULT_BOUND_MS = 100.0

NOT_MEASURED = "not measured in this run"

SYNTHETIC_PRESET = "synthetic-fixture"

#: The heading of the report's comparison of a run's networks (``bench.report.sections.network``).
SENSITIVITY_TITLE = "Sensitivity to the network"


@dataclass
class Context:
    """What every section needs: the results, the chart caption, the latency bound and the unverified backends."""

    results: RunResults
    caption: str
    bound_ns: float
    unverified: dict[str, str] = field(default_factory=dict)
    preset: dict[str, Any] = field(default_factory=dict)

    def label(self, backend: str) -> str:
        """A backend's display label (from the results' backends section)."""
        info = self.results.backends.get(backend) or {}
        return str(info.get("label") or backend)

    def profiles(self) -> list[str]:
        """Profiles present, in the order shipped, tuned, safe, then others."""
        present = self.results.profiles
        return [p for p in _PROFILE_ORDER if p in present] + [p for p in present if p not in _PROFILE_ORDER]

    def backends(self, records: Sequence[Record]) -> list[str]:
        """Backends of ``records``: real backends sorted by name, the floors last."""
        present = {r.backend for r in records}
        return sorted(b for b in present if not self.is_floor(b)) + sorted(b for b in present if self.is_floor(b))

    def floor_labels(self) -> frozenset[str]:
        """The labels of the run's floors (by their recorded role), as the charts name their series."""
        return frozenset(self.label(b) for b in self.results.backend_names if self.is_floor(b))

    def is_floor(self, backend: str) -> bool:
        """A raw broker loop, shown beside the backends and never ranked."""
        return derived.is_floor(self.results, backend)

    def floor_of(self, backend: str) -> str | None:
        """The floor a backend's figures are divided by (None for a floor, or when the run has none)."""
        return derived.floor_of(self.results, backend)

    @property
    def machine(self) -> str:
        """'AMD EPYC, 2 cores': where the absolute numbers were measured."""
        env = self.results.environment
        return f"{env.get('cpu_model') or 'unknown CPU'}, {env.get('cpu_count', '?')} cores"

    @property
    def cores(self) -> int | None:
        """The machine's core count."""
        cores = self.results.environment.get("cpu_count")
        return cores if isinstance(cores, int) else None

    def scenario_profiles(self, scenario: str) -> list[str]:
        """Profiles that have records of ``scenario`` (fault scenarios run in shipped and safe only)."""
        present = {r.profile for r in self.results.records if r.scenario == scenario}
        return [p for p in self.profiles() if p in present]

    @property
    def default_processes(self) -> int | None:
        """The preset's process count of every scenario except throughput/resources."""
        p = self.preset.get("default_processes")
        return p if isinstance(p, int) else None


def database_label(env: dict[str, Any]) -> str:
    """The run's database as a reader needs it: engine, version, who ran it (files before the record: SQLite)."""
    database = env.get("database")
    if not database:
        return "SQLite (not recorded)"
    engine = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(database.get("engine"), str(database.get("engine")))
    version = str(database.get("version") or "").split(" ")[0]
    if database.get("engine") == "sqlite":
        where = "a file per backend"
    else:
        where = "private cluster" if database.get("private") else "external server"
    fallback = "; PostgreSQL was unavailable" if database.get("fallback_reason") else ""
    return f"{engine} {version} ({where}{fallback})"


def main_part(results: RunResults) -> RunResults:
    """What the report's main part, the scorecard and the README show of a run: its first network's records (a run
    at several networks compares them in 'Sensitivity to the network'); the whole run at one network."""
    networks = results.networks
    return results.at_network(networks[0]) if len(networks) > 1 else results


def measured_at(results: RunResults) -> list[str]:
    """The networks of the run's axis that ``results`` holds records of (one, once :func:`main_part` chose it)."""
    present = {r.network_name for r in results.records}
    return [n for n in results.networks if n in present]


def nominal_text(network: Mapping[str, Any]) -> str:
    """'direct loopback connections' or '2 ms round trip to the broker and the database, 40 ms to SMTP, through the
    delay proxy': a record's network as a reader needs it."""
    hosts = network.get("hosts") or {}
    where = ""
    if hosts.get("mode") == "netns":
        addresses = hosts.get("addresses") or {}
        where = (
            f"; app, workers and broker on separate hosts (network namespaces), the broker at "
            f"{addresses.get('broker', '?')}"
        )
    if not network.get("proxied"):
        return "direct loopback connections" + where
    return (
        f"{network.get('rtt_ms', 0):g} ms round trip to the broker and the database, "
        f"{network.get('smtp_rtt_ms', 0):g} ms to SMTP, through the delay proxy{where}"
    )


def network_line(results: RunResults, lead: str = "Measured at network") -> str:
    """'Measured at network **az** (2 ms round trip …)', and the other networks of the run when it has several."""
    shown = measured_at(results)
    if not shown:
        return ""
    if len(shown) > 1:
        return f"{lead}s {', '.join(shown)}: '{SENSITIVITY_TITLE}' compares them"
    first = shown[0]
    record = next(r for r in results.records if r.network_name == first)
    text = f"{lead} **{first}** ({nominal_text(record.network)})"
    others = [n for n in results.networks if n != first]
    if others:
        text += f"; the same sessions also ran at {', '.join(others)}: '{SENSITIVITY_TITLE}' compares every network"
    return text


def make_context(results: RunResults) -> Context:
    env = results.environment
    versions = ", ".join(f"{k} {v}" for k, v in key_versions(env).items())
    date = str(results.run.get("started_at") or env.get("date") or "unknown date")[:10]
    caption = (
        f"Run {results.run.get('id', '?')} ({date}) · {env.get('cpu_model', 'unknown CPU')}, "
        f"{env.get('cpu_count', '?')} cores · Python {env.get('python', '?')} · Redis {env.get('redis_version', '?')}"
        f" · Django database {database_label(env)} · {versions}"
    )
    networks = measured_at(results)
    if networks:
        caption += f" · network {', '.join(networks)}"
    if results.run.get("preset") == SYNTHETIC_PRESET:
        caption = "SYNTHETIC TEST DATA, NOT A MEASUREMENT · " + caption
    # The harness records the whole preset as ``preset_params``; ``scenario_params`` is the older name.
    params = results.run.get("preset_params") or results.run.get("scenario_params") or {}
    params = dict(params) if isinstance(params, dict) else {}
    bound_ms = params.get("latency_bound_ms")
    unverified: dict[str, str] = {}
    for r in results.records:
        if r.status == "unverified" or (r.scenario == "verification" and r.status != "ok"):
            unverified.setdefault(r.backend, f"{r.profile}: {r.error or 'verification failed'}")
    for name, info in results.backends.items():
        if isinstance(info, dict) and info.get("verified") is False:
            unverified.setdefault(name, str(info.get("verification_error") or "verification failed"))
    return Context(results, caption, float(bound_ms or DEFAULT_BOUND_MS) * 1e6, unverified, params)


def histogram_percentiles(records: Sequence[Record], name: str) -> stats.Percentiles | None:
    """Percentiles of the bucket-wise merge of one histogram over the ok repetitions."""
    encoded = tuple(r.histograms[name] for r in records if r.ok and r.histograms.get(name))
    return merged_percentiles(encoded) if encoded else None


def param_values(records: Sequence[Record], name: str) -> list[Any]:
    """Distinct values of one parameter, sorted (numbers numerically, others as text)."""
    found = {r.params.get(name) for r in records if name in r.params}
    return sorted(found, key=lambda v: (not isinstance(v, int | float), v if isinstance(v, int | float) else str(v)))


def profile_index(profile: str) -> int:
    return _PROFILE_ORDER.index(profile) if profile in _PROFILE_ORDER else len(_PROFILE_ORDER)


def retry_sort_key(record: Record) -> tuple[int, str]:
    """Policy before default, failing k times before forever, checks last."""
    p = record.params
    fail_times = p.get("fail_times")
    forever = isinstance(fail_times, int) and fail_times < 0
    order = (0 if p.get("task") == "flaky_retry" else 2) + (1 if forever else 0) if "check" not in p else 4
    return order, str(p.get("check", ""))


def fault_sort_key(record: Record) -> tuple[int, str, int]:
    key = (record.params.get("kind"), record.params.get("persistence"))
    order = FAULT_ORDER.index(key) if key in FAULT_ORDER else len(FAULT_ORDER)
    return order, params_text(record.params), record.repetition


def params_text(params: dict[str, Any], *, skip: Sequence[str] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k not in skip)


def failure_note(ctx: Context, records: Sequence[Record]) -> list[Block]:
    bad = [r for r in records if not r.ok]
    if not bad:
        return []
    items = [
        f"{ctx.label(r.backend)} / {r.profile} / {params_text(r.params) or 'no params'} / rep {r.repetition}: "
        f"{r.status} — {r.error or 'no reason recorded'}"
        for r in bad
    ]
    return [Paragraph("Not measured (failed or unverified):"), Bullets(items)]


def merge_profiles(ctx: Context, texts: dict[str, str], backend: str) -> list[str]:
    """One line per backend when every profile says the same, else one line per profile."""
    if not texts:
        return []
    label = ctx.label(backend) + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
    if len(set(texts.values())) == 1:
        return [f"**{label}** ({', '.join(texts)}): {next(iter(texts.values()))}"]
    return [f"**{label}** ({profile}): {text}" for profile, text in texts.items()]
