"""The results file: a versioned JSON document holding every raw measurement of one benchmark run.

A run is a flat list of :class:`Record` s, one per (backend, profile, scenario, parameters, network, repetition),
plus the run's description, its environment and every backend setting. Statistics are computed later from the
records (see ``bench.stats`` and ``bench.report``), never stored in them. The format is documented in
docs/RESULTS-SCHEMA.md.

Format history (bump :data:`SCHEMA_VERSION` for any change a reader of an older version would misread, and register an
upgrade function in :data:`UPGRADES` so older files keep loading):

- version 1 (2026-11): first published format.
- version 2 (2026-11): fault records prove their premise (status ``premise_not_met`` when it did not hold, never
  ranked; ``notes["premise"]``) and classify every task as completed / duplicated / stranded / failed / gone
  (``accounting`` keys; ``samples["stranded"]`` says where and when a stranded task would come back). Version-1
  fault records keep their ``lost`` bucket ("not finished within the window", unclassified); version-1 retry
  records' ``lost`` bucket is renamed ``unfinished``, which is what it always meant.
- version 3 (2026-12): every record carries ``network`` (``name``, nominal ``rtt_ms`` and ``smtp_rtt_ms``,
  ``proxied``, and on a proxied network ``measured``: per upstream the round trip through the delay proxy and
  direct, p50/p99 in µs); a session whose measured round trip is off the nominal one by more than 25 % has its
  records ``premise_not_met``. Older records are upgraded to the ``loopback`` network, where they were measured.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

SCHEMA_VERSION = 3

#: Values of :attr:`Record.status`: measured normally; measurement raised; backend failed verification (not ranked);
#: ``premise_not_met``: a fault whose arranged state did not hold at the fault instant (never ranked); ``too_short``:
#: a time-based window shorter than the preset's minimum (measured, shown, not ranked).
STATUSES = ("ok", "failed", "unverified", "premise_not_met", "too_short")
#: The outcome of each task of a fault record (its ``accounting`` keys), in reading order; ``bench.faults.outcomes``
#: classifies, the report reads them.
FAULT_OUTCOMES = ("completed", "duplicated", "stranded", "failed", "gone")


def _upgrade_1_to_2(document: dict[str, Any]) -> dict[str, Any]:
    """Version 1 → 2: retry records' ``lost`` becomes ``unfinished``; fault records keep ``lost`` (unclassified)."""
    records = []
    for record in document.get("records", []):
        accounting = record.get("accounting")
        if record.get("scenario") == "retries" and isinstance(accounting, dict) and "lost" in accounting:
            accounting = {("unfinished" if k == "lost" else k): v for k, v in accounting.items()}
            record = {**record, "accounting": accounting}
        records.append(record)
    return {**document, "records": records, "schema_version": 2}


#: The ``network`` of a record measured before the network axis existed: direct loopback connections.
LOOPBACK_NETWORK: dict[str, Any] = {"name": "loopback", "rtt_ms": 0.0, "smtp_rtt_ms": 0.0, "proxied": False}


def _upgrade_2_to_3(document: dict[str, Any]) -> dict[str, Any]:
    """Version 2 → 3: every record was measured on direct loopback connections."""
    records = [{**record, "network": dict(LOOPBACK_NETWORK)} for record in document.get("records", [])]
    return {**document, "records": records, "schema_version": 3}


#: schema version N → function turning a version-N document into a version-(N+1) one (pyperf's approach).
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1_to_2, 2: _upgrade_2_to_3}

_RECORD_REQUIRED = ("backend", "profile", "scenario", "params", "repetition", "status")
_TOP_REQUIRED = ("run", "environment", "backends", "records")


class ResultsError(Exception):
    """A results file cannot be read or written; the message is one line naming the file."""


def _params_key(params: Mapping[str, Any]) -> str:
    """A canonical, hashable form of a params dict (key order does not matter)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


class RecordKey(NamedTuple):
    """What identifies one measurement across its repetitions, and across runs (``compare`` pairs records by it).

    The network is part of it: the same backend, profile, scenario and params at loopback and at 2 ms are two
    measurements, never repetitions of one.
    """

    backend: str
    profile: str
    scenario: str
    params: str  # canonical JSON of the params (key order does not matter)
    network: str  # the network's name (``loopback``, ``lan``, ``az``, ``rtt=1.5ms``)


@dataclass(frozen=True)
class Record:
    """One measurement: a (backend, profile, scenario, params, network, repetition) and its raw data."""

    backend: str
    profile: str
    scenario: str
    params: Mapping[str, Any]
    repetition: int
    status: str = "ok"
    error: str | None = None
    histograms: Mapping[str, str] = field(default_factory=dict)  # name → bench.stats.encode() string
    values: Mapping[str, float] = field(default_factory=dict)  # scalar measurements
    # name → list of numbers, or name → {task id → list of numbers} (e.g. retries' attempt_times_ns)
    samples: Mapping[str, Any] = field(default_factory=dict)
    accounting: Mapping[str, list[str]] | None = None  # task ids per outcome (faults, retries; docs/RESULTS-SCHEMA.md)
    notes: Mapping[str, Any] = field(default_factory=dict)  # textual observations (exception names, …)
    #: How the clients reached Redis, PostgreSQL, RabbitMQ and SMTP: name, nominal and measured round trips.
    network: Mapping[str, Any] = field(default_factory=lambda: dict(LOOPBACK_NETWORK))
    started_at: str | None = None
    duration_s: float | None = None

    # Records hold dicts, so they are compared by value but never hashed; group them with :attr:`key`.
    __hash__ = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"record status must be one of {', '.join(STATUSES)}, not {self.status!r}")

    @property
    def key(self) -> RecordKey:
        """(backend, profile, scenario, canonical params, network): identical for the repetitions of one
        measurement."""
        return RecordKey(self.backend, self.profile, self.scenario, _params_key(self.params), self.network_name)

    @property
    def network_name(self) -> str:
        """The name of the network the record was measured at."""
        return str(self.network.get("name", "loopback"))

    @property
    def ok(self) -> bool:
        """True when the measurement succeeded on a verified backend."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a plain dict; ``accounting`` only when present)."""
        data: dict[str, Any] = {
            "backend": self.backend,
            "profile": self.profile,
            "scenario": self.scenario,
            "params": dict(self.params),
            "repetition": self.repetition,
            "status": self.status,
            "error": self.error,
            "histograms": dict(self.histograms),
            "values": dict(self.values),
            "samples": dict(self.samples),
            "notes": dict(self.notes),
            "network": dict(self.network),
            "started_at": self.started_at,
            "duration_s": self.duration_s,
        }
        if self.accounting is not None:
            data["accounting"] = {k: list(v) for k, v in self.accounting.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        """Build a record from its JSON form; ``KeyError``/``ValueError``/``TypeError`` on a malformed one."""
        missing = [k for k in _RECORD_REQUIRED if k not in data]
        if missing:
            raise KeyError(", ".join(missing))
        return cls(
            backend=str(data["backend"]),
            profile=str(data["profile"]),
            scenario=str(data["scenario"]),
            params=dict(data["params"]),
            repetition=int(data["repetition"]),
            status=str(data["status"]),
            error=data.get("error"),
            histograms=dict(data.get("histograms") or {}),
            values=dict(data.get("values") or {}),
            samples=dict(data.get("samples") or {}),
            accounting=data.get("accounting"),
            notes=dict(data.get("notes") or {}),
            network=dict(data.get("network") or LOOPBACK_NETWORK),
            started_at=data.get("started_at"),
            duration_s=data.get("duration_s"),
        )


@dataclass(frozen=True)
class RunResults:
    """A whole results file: run description, environment, backend settings and the records."""

    run: Mapping[str, Any]
    environment: Mapping[str, Any]
    backends: Mapping[str, Any]
    records: tuple[Record, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def with_records(self, records: Iterable[Record]) -> RunResults:
        """A copy with ``records`` appended (the harness adds records as it goes and rewrites the file)."""
        return replace(self, records=(*self.records, *records))

    def select(
        self,
        *,
        backend: str | None = None,
        profile: str | None = None,
        scenario: str | None = None,
        params: Mapping[str, Any] | None = None,
        status: str | None = None,
        network: str | None = None,
    ) -> list[Record]:
        """Records matching every given filter; ``params`` matches records whose params contain these items;
        ``network`` is a network's name (``loopback``, ``az``, ``rtt=1.5ms``)."""
        found = []
        for r in self.records:
            if network is not None and r.network_name != network:
                continue
            if backend is not None and r.backend != backend:
                continue
            if profile is not None and r.profile != profile:
                continue
            if scenario is not None and r.scenario != scenario:
                continue
            if status is not None and r.status != status:
                continue
            if params is not None and any(r.params.get(k) != v for k, v in params.items()):
                continue
            found.append(r)
        return found

    def groups(self, **filters: Any) -> dict[RecordKey, list[Record]]:
        """The selected records grouped by :attr:`Record.key`: each group holds the repetitions of one measurement
        (at one network: a run at several networks keeps them apart)."""
        grouped: dict[RecordKey, list[Record]] = {}
        for r in self.select(**filters):
            grouped.setdefault(r.key, []).append(r)
        for reps in grouped.values():
            reps.sort(key=lambda r: r.repetition)
        return grouped

    @property
    def backend_names(self) -> list[str]:
        """Backends in the records, in first-seen order."""
        return list(dict.fromkeys(r.backend for r in self.records))

    @property
    def networks(self) -> list[str]:
        """The networks of the run's sessions: ``run.networks`` (as asked), else those of the records, first-seen."""
        asked = self.run.get("networks")
        if asked:
            return [str(n) for n in asked]
        return list(dict.fromkeys(r.network_name for r in self.records))

    def at_network(self, network: str) -> RunResults:
        """A copy holding the records measured at ``network`` (the report's main part shows one network), and those
        measured outside the run's network axis (the statement counts, on a cluster of their own), which hold at
        every network."""
        axis = set(self.networks)
        chosen = tuple(r for r in self.records if r.network_name == network or r.network_name not in axis)
        return replace(self, records=chosen)

    @property
    def profiles(self) -> list[str]:
        """Profiles in the records, in first-seen order."""
        return list(dict.fromkeys(r.profile for r in self.records))

    @property
    def scenarios(self) -> list[str]:
        """Scenarios in the records, in first-seen order."""
        return list(dict.fromkeys(r.scenario for r in self.records))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document."""
        return {
            "schema_version": self.schema_version,
            "run": dict(self.run),
            "environment": dict(self.environment),
            "backends": dict(self.backends),
            "records": [r.to_dict() for r in self.records],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResults:
        """Build from a current-version document; ``KeyError`` & co. on a malformed one."""
        missing = [k for k in _TOP_REQUIRED if k not in data]
        if missing:
            raise KeyError(", ".join(missing))
        records = []
        for index, item in enumerate(data["records"]):
            try:
                records.append(Record.from_dict(item))
            except (KeyError, ValueError, TypeError) as exc:
                raise _RecordError(index, exc) from exc
        return cls(
            run=dict(data["run"]),
            environment=dict(data["environment"]),
            backends=dict(data["backends"]),
            records=tuple(records),
            schema_version=int(data["schema_version"]),
        )


class _RecordError(Exception):
    """Internal: which record of the file is malformed."""

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(index, cause)
        self.index, self.cause = index, cause


def _json_default(value: Any) -> Any:
    """Serialize the few non-JSON types measurements produce (tuples are lists already; paths, sets)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} in a results file")


def write_results(path: str | os.PathLike[str], results: RunResults) -> None:
    """Write ``results`` atomically: to a temp file in the same folder, fsync'ed, then renamed over ``path``.

    A crash or an unserializable value leaves the previous file (or none) in place, never a half-written one.
    NaN and infinity are written as null so the file stays strict JSON.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = _finite(results.to_dict())
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; a results file is an ordinary shared file
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1, default=_json_default, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(exc, TypeError | ValueError | OSError):
            raise ResultsError(f"cannot write results file {target}: {exc}") from exc
        raise


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _finite(value: Any) -> Any:
    """``value`` with every NaN/inf float replaced by None (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def upgrade(document: dict[str, Any], *, source: str = "<document>") -> dict[str, Any]:
    """Bring a parsed document of any readable schema version up to :data:`SCHEMA_VERSION`."""
    version = document.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{source} is not a results file: no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ResultsError(
            f"{source} has schema version {version}, newer than this suite reads ({SCHEMA_VERSION}); "
            "update the suite to read it"
        )
    while version < SCHEMA_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise ResultsError(
                f"{source} has schema version {version}, which this suite can no longer read "
                f"(it reads {min([*UPGRADES, SCHEMA_VERSION])}..{SCHEMA_VERSION})"
            )
        document = step(document)
        version += 1
        document["schema_version"] = version
    return document


def load_results(path: str | os.PathLike[str]) -> RunResults:
    """Read a results file, upgrading an older schema version; :class:`ResultsError` with a one-line reason."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"no results file at {source}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"cannot read results file {source}: {exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"corrupt results file {source}: line {exc.lineno} col {exc.colno}: {exc.msg}") from None
    if not isinstance(document, dict):
        raise ResultsError(f"{source} is not a results file: top level is {type(document).__name__}, not an object")
    document = upgrade(document, source=str(source))
    try:
        return RunResults.from_dict(document)
    except _RecordError as exc:
        raise ResultsError(f"malformed results file {source}: record {exc.index}: {_describe(exc.cause)}") from None
    except (KeyError, ValueError, TypeError) as exc:
        raise ResultsError(f"malformed results file {source}: {_describe(exc)}") from None


def _describe(exc: Exception) -> str:
    """One-line wording of a parsing exception."""
    if isinstance(exc, KeyError):
        return f"missing key(s) {exc.args[0]}"
    return f"{type(exc).__name__}: {exc}"
