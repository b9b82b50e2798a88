"""What the report says: a pure function from a :class:`~bench.results.RunResults` to a list of blocks.

Order (issue 5): the answers a Django developer asks first, each with its number and caveat; then details per
scenario; then the FAQ (issue 4: the tutorial's two questions, per backend, measured); then every setting and the
environment; then how each number is measured. A backend that failed verification is listed as failed and never
ranked; the raw Redis floor (``redis-baseline``) is never ranked but shown beside the backends wherever it was
measured; a scenario absent from the run is "not measured in this run"; a scenario this module does not know is
still shown, generically.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import stats
from bench.environment import key_versions
from bench.report import charts
from bench.report.facts import (
    CATEGORIES,
    FaultOutcome,
    RetryFacts,
    down_enqueue,
    fault_label,
    fault_outcome,
    is_check,
    number,
    retry_facts,
    survival_text,
    visibility_text,
)
from bench.report.method import METHOD, method_for
from bench.report.metrics import (
    flat_samples,
    format_value,
    histogram_percentile,
    metrics_for,
    value,
)
from bench.report.model import Answer, Block, Bullets, Chart, Heading, Paragraph, Table
from bench.results import Record, RunResults

BASELINE = charts.BASELINE
KNOWN_SCENARIOS = (
    "enqueue",
    "throughput",
    "latency",
    "idle_pickup",
    "resources",
    "channel_overhead",
    "retries",
    "faults",
)
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
)
_PROFILE_ORDER = ("shipped", "tuned", "safe")
DEFAULT_BOUND_MS = 100.0
NOT_MEASURED = "not measured in this run"
SYNTHETIC_PRESET = "synthetic-fixture"


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
        """Backends of ``records``: real backends sorted by name, the baseline last."""
        names = sorted({r.backend for r in records} - {BASELINE})
        return names + ([BASELINE] if any(r.backend == BASELINE for r in records) else [])

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


def _context(results: RunResults) -> Context:
    env = results.environment
    versions = ", ".join(f"{k} {v}" for k, v in key_versions(env).items())
    date = str(results.run.get("started_at") or env.get("date") or "unknown date")[:10]
    caption = (
        f"Run {results.run.get('id', '?')} ({date}) · {env.get('cpu_model', 'unknown CPU')}, "
        f"{env.get('cpu_count', '?')} cores · Python {env.get('python', '?')} · Redis {env.get('redis_version', '?')}"
        f" · Django database {database_label(env)} · {versions}"
    )
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


# --------------------------------------------------------------------------------------------------------------------
# Shared computations


def _summary_text(values: Sequence[float], unit: str) -> str:
    """'12.3 µs (±4 %, n=3)': median, relative spread and repetitions."""
    if not values:
        return "–"
    s = stats.summarize(values)
    text = format_value(s.median, unit)
    if s.n > 1:
        text += f" (±{s.spread * 50:.0f} %, n={s.n})"
    return text


def _merged_percentiles(records: Sequence[Record], name: str) -> stats.Percentiles | None:
    """Percentiles of the bucket-wise merge of one histogram over the ok repetitions."""
    encoded = [r.histograms[name] for r in records if r.ok and r.histograms.get(name)]
    return stats.percentiles(stats.merge(encoded)) if encoded else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _by_backend(records: Sequence[Record]) -> dict[str, list[Record]]:
    grouped: dict[str, list[Record]] = {}
    for r in records:
        grouped.setdefault(r.backend, []).append(r)
    return grouped


def _param_values(records: Sequence[Record], name: str) -> list[Any]:
    """Distinct values of one parameter, sorted (numbers numerically, others as text)."""
    found = {r.params.get(name) for r in records if name in r.params}
    return sorted(found, key=lambda v: (not isinstance(v, int | float), v if isinstance(v, int | float) else str(v)))


@dataclass
class Ranking:
    """Backends ordered best first by the median of a per-repetition metric, and who could not be ranked."""

    ranked: list[tuple[str, list[float]]]
    excluded: list[str]  # "Label: reason"
    baseline: list[float]


def _rank(
    ctx: Context, records: Sequence[Record], extract: Callable[[Record], float | None], *, higher_is_better: bool
) -> Ranking:
    ranked, excluded, baseline = [], [], []
    for backend, reps in sorted(_by_backend(records).items()):
        values = [v for v in (extract(r) for r in reps if r.ok) if v is not None]
        if backend == BASELINE:
            baseline = values
        elif backend in ctx.unverified:
            excluded.append(f"{ctx.label(backend)}: failed verification, not ranked ({ctx.unverified[backend]})")
        elif not values:
            errors = {r.error for r in reps if r.error} or {"no value"}
            excluded.append(f"{ctx.label(backend)}: failed ({'; '.join(sorted(errors))})")
        else:
            ranked.append((backend, values))
    ranked.sort(key=lambda item: statistics.median(item[1]), reverse=higher_is_better)
    return Ranking(ranked, excluded, baseline)


# --------------------------------------------------------------------------------------------------------------------
# Answers


def _floor_text(ranking: Ranking, unit: str, what: str) -> str:
    """'; raw Redis floor 23,376 tasks/s (not ranked)' when the baseline was measured."""
    if not ranking.baseline:
        return ""
    return f"; {what} {format_value(_median(ranking.baseline), unit)} (floor, not ranked)"


def _ranked_list(ctx: Context, ranking: Ranking, unit: str, *, higher_is_better: bool) -> str:
    """'**Huey** 40 µs; Dramatiq 60 µs (winner 1.5x faster, not enough repetitions …); Celery 180 µs'."""
    parts = []
    for i, (backend, values) in enumerate(ranking.ranked):
        name = f"**{ctx.label(backend)}**" if i == 0 else ctx.label(backend)
        parts.append(f"{name} {_summary_text(values, unit)}")
    if len(ranking.ranked) >= 2:
        (_, best), (_, other) = ranking.ranked[0], ranking.ranked[1]
        cmp = stats.compare_samples(other, best, higher_is_better=higher_is_better)
        factor = max(cmp.ratio, 1 / cmp.ratio) if cmp.ratio > 0 else float("nan")
        verdict = (
            f"{factor:.1f}x, untested: {cmp.base.n} vs {cmp.changed.n} repetitions"
            if cmp.p_value is None
            else cmp.verdict
        )
        parts[1] += f" (winner {verdict})"
    return "; ".join(parts)


def _answer_enqueue(ctx: Context) -> Answer:
    question = "Which backend enqueues fastest?"
    records = ctx.results.select(scenario="enqueue")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    tasks = _param_values(records, "task")
    task = "noop" if "noop" in tasks else tasks[0]
    lines = []
    for profile in ctx.scenario_profiles("enqueue"):
        selected = ctx.results.select(scenario="enqueue", profile=profile, params={"task": task})
        ranking = _rank(ctx, selected, lambda r: histogram_percentile(r, "latency_ns", "p50"), higher_is_better=False)
        if not ranking.ranked:
            lines.append(f"{profile}: no backend measured" + "".join(f"; {e}" for e in ranking.excluded))
            continue
        line = f"{profile}, p50 per `{task}` enqueue call: " + _ranked_list(ctx, ranking, "ns", higher_is_better=False)
        line += _floor_text(ranking, "ns", "raw Redis LPUSH")
        lines.append(line + "".join(f"; {e}" for e in ranking.excluded))
    return Answer(
        question,
        lines,
        "Producer-side cost of the enqueue call only (what a view pays per task; no worker running); says nothing "
        "about when the task runs. Per-task-type tables, p99 and a pytest-benchmark cross-check are in the details.",
    )


def _answer_throughput(ctx: Context) -> Answer:
    question = "Which backend gets the most tasks done per second?"
    records = ctx.results.select(scenario="throughput")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    tasks = _param_values(records, "task")
    task = "noop" if "noop" in tasks else tasks[0]
    modes = _param_values([r for r in records if r.params.get("task") == task], "mode")
    mode = "backlog" if "backlog" in modes else (modes[0] if modes else None)
    lines = []
    for profile in ctx.scenario_profiles("throughput"):
        selected = [
            r
            for r in ctx.results.select(scenario="throughput", profile=profile, params={"task": task})
            if r.params.get("mode") == mode
        ]
        if not selected:
            continue
        measured = [r for r in selected if r.ok and r.backend != BASELINE and value(r, "tasks_per_s") is not None]
        processes = max(_param_values(measured or selected, "processes") or [None], key=lambda p: p or 0)
        at_max = [r for r in selected if r.params.get("processes") == processes]
        ranking = _rank(ctx, at_max, lambda r: value(r, "tasks_per_s"), higher_is_better=True)
        if not ranking.ranked:
            lines.append(f"{profile}: no backend measured" + "".join(f"; {e}" for e in ranking.excluded))
            continue
        line = f"{profile}, `{task}` {mode}, {processes} worker processes: "
        line += _ranked_list(ctx, ranking, "tasks/s", higher_is_better=True)
        line += _floor_text(ranking, "tasks/s", "raw Redis LPUSH/BRPOP")
        lines.append(line + "".join(f"; {e}" for e in ranking.excluded))
    cores = ctx.results.environment.get("cpu_count", "?")
    return Answer(
        question,
        lines or [NOT_MEASURED],
        f"A noop task measures the queue's own overhead; real shop tasks (see details) are dominated by their own "
        f"work. Measured on {cores} cores, where the workers share the CPU with Redis and the harness.",
    )


@dataclass
class RatePoint:
    """Latency scenario at one offered rate, merged over repetitions."""

    rate: float
    achieved: float | None
    p50: float
    p99: float
    finish_p99: float | None
    lost: float
    saturated: bool


def _rate_points(ctx: Context, records: Sequence[Record]) -> list[RatePoint]:
    points = []
    for rate in _param_values(records, "rate"):
        reps = [r for r in records if r.params.get("rate") == rate and r.ok]
        start = _merged_percentiles(reps, "to_start_ns")
        if start is None or not start.count:
            continue
        finish = _merged_percentiles(reps, "to_finish_ns")
        achieved = _median([v for v in (value(r, "achieved_rate") for r in reps) if v is not None])
        lost = sum(v for v in (value(r, "lost") for r in reps) if v is not None)
        saturated = bool(lost) or start.p99 > ctx.bound_ns or (achieved is not None and achieved < 0.9 * float(rate))
        points.append(
            RatePoint(float(rate), achieved, start.p50, start.p99, finish.p99 if finish else None, lost, saturated)
        )
    return points


def _max_sustainable(points: Sequence[RatePoint]) -> RatePoint | None:
    best = None
    for p in sorted(points, key=lambda p: p.rate):
        if p.saturated:
            break
        best = p
    return best


def _answer_latency(ctx: Context) -> Answer:
    question = "Which backend keeps latency lowest under load?"
    records = ctx.results.select(scenario="latency")
    if not records:
        return Answer(question, [NOT_MEASURED], "")
    bound = format_value(ctx.bound_ns, "ns")
    lines = []
    for profile in ctx.scenario_profiles("latency"):
        selected = ctx.results.select(scenario="latency", profile=profile)
        top_rate = max(_param_values(selected, "rate"))
        results = []
        excluded = []
        floor = ""
        for backend, reps in _by_backend(selected).items():
            best = _max_sustainable(_rate_points(ctx, reps))
            if backend == BASELINE:
                floor = "; raw Redis floor: " + _sustainable_text(best, top_rate) + " (not ranked)"
                continue
            if backend in ctx.unverified:
                excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
                continue
            results.append((backend, best))
        results.sort(key=lambda item: (-(item[1].rate if item[1] else -1), item[1].p99 if item[1] else 0))
        if not results:
            continue
        parts = [f"{ctx.label(backend)} {_sustainable_text(best, top_rate)}" for backend, best in results]
        parts[0] = f"**{parts[0]}**"
        lines.append(f"{profile}: highest sustainable offered rate — " + "; ".join(parts + excluded) + floor)
    return Answer(
        question,
        lines or [NOT_MEASURED],
        f"Sustainable = p99 from the intended send time to task start within {bound}, no task lost and at least "
        "90 % of the offered rate achieved; only the preset's offered rates were tried, so the true limit lies "
        "between the reported rate and the next one (≥: even the highest rate tried was sustained).",
    )


def _sustainable_text(best: RatePoint | None, top_rate: float) -> str:
    if best is None:
        return "saturated already at the lowest rate"
    return f"{'≥ ' if best.rate == top_rate else ''}{best.rate:g} tasks/s (p99 to start {format_value(best.p99, 'ns')})"


def _fault_outcomes(ctx: Context, records: Sequence[Record]) -> dict[tuple[str, str], list[FaultOutcome]]:
    """(backend, profile) → the fault outcomes with accounting, in FAULT_ORDER."""
    grouped: dict[tuple[str, str], list[FaultOutcome]] = {}
    for r in sorted(records, key=_fault_sort_key):
        outcome = fault_outcome(r)
        if outcome is not None:
            grouped.setdefault((r.backend, r.profile), []).append(outcome)
    return grouped


def _profile_index(profile: str) -> int:
    return _PROFILE_ORDER.index(profile) if profile in _PROFILE_ORDER else len(_PROFILE_ORDER)


def _retry_sort_key(record: Record) -> tuple[int, str]:
    """Policy before default, failing k times before forever, checks last."""
    p = record.params
    fail_times = p.get("fail_times")
    forever = isinstance(fail_times, int) and fail_times < 0
    order = (0 if p.get("task") == "flaky_retry" else 2) + (1 if forever else 0) if "check" not in p else 4
    return order, str(p.get("check", ""))


def _fault_sort_key(record: Record) -> tuple[int, str, int]:
    key = (record.params.get("kind"), record.params.get("persistence"))
    order = FAULT_ORDER.index(key) if key in FAULT_ORDER else len(FAULT_ORDER)
    return order, _params_text(record.params), record.repetition


def _fault_columns(records: Sequence[Record]) -> list[tuple[str, str | None]]:
    """The (kind, persistence) pairs with accounting, in reading order."""
    found = {
        (r.params.get("kind"), r.params.get("persistence"))
        for r in records
        if r.accounting is not None or r.params.get("kind") in ("sigkill", "sigterm", "redis_restart")
    }
    ordered = [k for k in FAULT_ORDER if k in found]
    return ordered + sorted((k for k in found if k not in FAULT_ORDER), key=str)


def _answer_faults(ctx: Context) -> list[Block]:
    question = "Which backend is safest when workers die or Redis restarts?"
    records = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") != "redis_down_enqueue"]
    if not records:
        return [Answer(question, [NOT_MEASURED], "")]
    outcomes = _fault_outcomes(ctx, records)
    columns = _fault_columns(records)
    lines, rows = [], []
    for profile in ctx.scenario_profiles("faults"):
        ranked, excluded = [], []
        for backend in ctx.backends([r for r in records if r.profile == profile]):
            if backend == BASELINE:
                continue
            mine = outcomes.get((backend, profile), [])
            failed = [r for r in records if r.backend == backend and r.profile == profile and not r.ok]
            row = [ctx.label(backend), profile]
            for kind, persistence in columns:
                found = [
                    o
                    for o in mine
                    if o.record.params.get("kind") == kind and o.record.params.get("persistence") == persistence
                ]
                failed_here = [
                    r for r in failed if r.params.get("kind") == kind and r.params.get("persistence") == persistence
                ]
                if found:
                    row.append(" / ".join(o.cell() for o in found))
                elif failed_here:
                    row.append(f"failed: {failed_here[0].error}")
                else:
                    row.append("–")
            rows.append(row)
            if backend in ctx.unverified:
                excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
            elif not mine:
                excluded.append(f"{ctx.label(backend)}: fault runs failed")
            else:
                ranked.append(
                    (sum(o.lost for o in mine), sum(o.duplicated for o in mine), backend, sum(o.tasks for o in mine))
                )
        if not ranked and not excluded:
            continue
        ranked.sort()
        parts = [f"{ctx.label(b)} {lost} of {tasks} lost, {dup} duplicated" for lost, dup, b, tasks in ranked]
        if parts:
            parts[0] = f"**{parts[0]}**"
        lines.append(f"{profile}: fewest tasks lost — " + "; ".join(parts + excluded))
    window = ctx.preset.get("fault_window_s")
    caveat = (
        "One run per backend and profile, a handful of tasks per category: a count, not a rate. Lost = not finished "
        f"within the observation window{f' ({window:g} s after the fault)' if window else ''}. `safe` is each "
        "library's documented at-least-once configuration, with visibility/heartbeat timeouts shortened by "
        "configuration (SHOP_FAST_FAULTS) so redelivery fits the window. Duplicates are harmless only for "
        "idempotent tasks."
    )
    table = Table(
        ["backend", "profile", *[fault_label({"kind": k, "persistence": p}) for k, p in columns]],
        rows,
        "Per fault: tasks enqueued before it and what became of them; lost/duplicated per category "
        "(running = long task in every worker process, queued = waiting or prefetched, delayed = scheduled ahead, "
        "retrying = retry pending).",
    )
    return [Answer(question, lines or [NOT_MEASURED], caveat), table]


def _policy_and_default(reps: Sequence[Record]) -> dict[tuple[str, int | None], RetryFacts]:
    """(task, fail_times) → facts of the first ok repetition of each retries variant."""
    found: dict[tuple[str, int | None], RetryFacts] = {}
    for r in sorted(reps, key=lambda r: r.repetition):
        if r.ok and not is_check(r):
            f = retry_facts(r)
            found.setdefault((f.task, f.fail_times), f)
    return found


def _variant(facts: dict[tuple[str, int | None], RetryFacts], task: str, *, forever: bool) -> RetryFacts | None:
    for (t, k), f in facts.items():
        if t == task and (k is not None and k < 0) == forever:
            return f
    return None


def _retry_sentence(ctx: Context, reps: Sequence[Record]) -> str:
    """What retries did for one backend and profile, in words."""
    facts = _policy_and_default(reps)
    checks = [r for r in reps if r.ok and is_check(r)]
    parts = []
    k_policy = _variant(facts, "flaky_retry", forever=False)
    if k_policy is not None:
        parts.append(f"shop policy, failing {k_policy.fail_times}×: {k_policy.summary()}")
    forever_policy = _variant(facts, "flaky_retry", forever=True)
    if forever_policy is not None:
        text = f"failing forever: {forever_policy.summary()}"
        parts.append(text)
    for r in checks:
        if r.params.get("check") == "exhausted_visibility":
            parts.append(f"{_visibility_label(r)}: {visibility_text(r)}")
        elif str(r.params.get("check", "")).startswith("survives_"):
            parts.append(survival_text(r))
    defaults = [f for f in (_variant(facts, "flaky_default", forever=b) for b in (False, True)) if f is not None]
    if defaults:
        most = max(defaults, key=lambda f: f.attempts_max)
        if most.attempts_max <= 1:
            parts.append(
                f"library default (no retry options): 1 attempt, no retry within {most.window_text()} (a retry "
                "scheduled later than that would not be seen)"
            )
        else:
            parts.append(f"library default (no retry options): {most.summary()}")
    failed = [r for r in reps if not r.ok]
    parts += [f"{_params_text(r.params)}: run failed ({r.error})" for r in failed]
    return "; ".join(parts) or NOT_MEASURED


def _merge_profiles(ctx: Context, texts: dict[str, str], backend: str) -> list[str]:
    """One line per backend when every profile says the same, else one line per profile."""
    if not texts:
        return []
    label = ctx.label(backend) + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
    if len(set(texts.values())) == 1:
        return [f"**{label}** ({', '.join(texts)}): {next(iter(texts.values()))}"]
    return [f"**{label}** ({profile}): {text}" for profile, text in texts.items()]


def _answer_retries(ctx: Context) -> list[Block]:
    question = "Do retries happen as configured?"
    records = ctx.results.select(scenario="retries")
    if not records:
        return [Answer(question, [NOT_MEASURED], "")]
    lines, rows = [], []
    for backend in ctx.backends(records):
        if backend == BASELINE:
            continue
        texts = {}
        for profile in ctx.scenario_profiles("retries"):
            reps = [r for r in records if r.backend == backend and r.profile == profile]
            if not reps:
                continue
            texts[profile] = _retry_summary(reps)
            facts = _policy_and_default(reps)
            cells = []
            for task, forever in (
                ("flaky_retry", False),
                ("flaky_retry", True),
                ("flaky_default", False),
                ("flaky_default", True),
            ):
                f = _variant(facts, task, forever=forever)
                cells.append(_retry_cell(f))
            visibility = [
                visibility_text(r)
                for r in reps
                if r.ok and r.params.get("check") == "exhausted_visibility" and r.params.get("task") == "flaky_retry"
            ]
            cells.append(visibility[0] if visibility else "–")
            rows.append([ctx.label(backend), profile, *cells])
        lines += _merge_profiles(ctx, texts, backend)
    window = ctx.preset.get("retry_window_s")
    caveat = (
        "The shop's policy is 3 retries 1 s apart (`flaky_retry`), written natively per backend; `flaky_default` is "
        "the task with no retry options. Attempts are counted from the task side's start events over an "
        f"observation window{f' of {window:g} s' if window else ''}: a retry later than the window is not seen, so "
        "'no retry within the window' is what was measured, not a claim that the library never retries."
    )
    table = Table(
        [
            "backend",
            "profile",
            "policy, fails 2× (expect 3 attempts)",
            "policy, fails forever (expect 4)",
            "default, fails 2×",
            "default, fails forever",
            "exhausted failure recorded",
        ],
        rows,
        "Attempts per task (min–max over the tasks of the variant); gaps between attempts, mean (min–max).",
    )
    return [Answer(question, lines or [NOT_MEASURED], caveat), table]


def _visibility_label(record: Record) -> str:
    """Which failure an ``exhausted_visibility`` check looked at: the policy's exhausted task, or the default one."""
    if record.params.get("task") == "flaky_retry":
        return "failure after the policy's retries are exhausted"
    window = record.values.get("window_s")
    after = f" {window:g} s" if isinstance(window, int | float) else ""
    return f"failure of the no-retry-options task{after} after its first attempt (a pending retry is not a failure yet)"


def _retry_summary(reps: Sequence[Record]) -> str:
    """The short form of :func:`_retry_sentence`, for the answers."""
    facts = _policy_and_default(reps)
    policy = [f for f in (_variant(facts, "flaky_retry", forever=b) for b in (False, True)) if f is not None]
    parts = []
    if policy:
        attempts = " and ".join(f"{f.attempts_text()}/{f.expected}" for f in policy if f.expected is not None)
        honoured = all(f.as_expected for f in policy if f.expected is not None)
        gaps = [g for f in policy for g in f.gaps_s]
        text = f"policy attempts {'as configured' if honoured else '**not as configured**'} ({attempts}"
        text += ")" if honoured else f" within {policy[0].window_text()})"
        configured = policy[0].configured_s
        if gaps and configured:
            mean = sum(gaps) / len(gaps)
            # More than 20 % off the configured delay is worth a reader's attention.
            off = abs(mean - configured) > 0.2 * configured
            gap = f"gaps {mean:.2f} s vs {configured:g} s configured"
            text += f", {'**' + gap + '**' if off else gap}"
        parts.append(text)
    for r in reps:
        if r.ok and r.params.get("check") == "exhausted_visibility":
            visible = r.values.get("visible")
            parts.append(
                f"{_visibility_label(r)}: "
                + ("visible to the app" if visible else "**not visible**" if visible is False else "not checked")
            )
    defaults = [f for f in (_variant(facts, "flaky_default", forever=b) for b in (False, True)) if f is not None]
    if defaults:
        most = max(defaults, key=lambda f: f.attempts_max)
        if most.attempts_max <= 1:
            parts.append(f"library default: no retry within {most.window_text()}")
        else:
            parts.append(f"library default: {most.attempts_text()} attempts within {most.window_text()}")
    parts += [f"{_params_text(r.params)} failed ({r.error})" for r in reps if not r.ok]
    return "; ".join(parts) or NOT_MEASURED


def _retry_cell(f: RetryFacts | None) -> str:
    if f is None:
        return "–"
    text = f"{f.attempts_text()} attempt{'s' if f.attempts_max != 1 else ''}"
    if f.expected is not None and not f.as_expected:
        text = f"**{text}**"
    gap = f.gap_text()
    return text + (f", {gap}" if gap else "")


def _range(values: Sequence[float], unit: str) -> str:
    """'1.7 s' or '1.7–1.9 s'."""
    lo, hi = min(values), max(values)
    if unit == "ms":
        return f"{lo * 1e3:.1f} ms" if round(lo * 1e3, 1) == round(hi * 1e3, 1) else f"{lo * 1e3:.1f}–{hi * 1e3:.1f} ms"
    return f"{lo:.1f} s" if round(lo, 1) == round(hi, 1) else f"{lo:.1f}–{hi:.1f} s"


def _down_enqueue_summary(facts: Sequence[Any]) -> list[str]:
    """'enqueue raised X after 0.8–1.0 ms; the view got a clean EnqueueFailed' over the profiles."""
    if not facts:
        return []
    parts = []
    blocked = [f for f in facts if f.blocked]
    if blocked:
        parts.append(
            f"the enqueue call **blocked** (no answer after {_range([f.timeout_s or 0 for f in blocked], 's')})"
        )
    returned = [f for f in facts if not f.blocked]
    if returned:
        outcomes = sorted({f.call_text().split(" after ")[0] for f in returned})
        times = [f.call_s for f in returned if f.call_s is not None]
        parts.append("enqueue " + " or ".join(outcomes) + (f" after {_range(times, 'ms')}" if times else ""))
    views = sorted({f.view_text().split(" after ")[0].split(" (")[0] for f in facts})
    return [*parts, "the view got " + " or ".join(views)]


def _down_sentence(ctx: Context, reps: Sequence[Record]) -> str:
    """Redis down at enqueue time and Redis restart outcomes for one backend and profile."""
    parts = []
    for r in sorted(reps, key=lambda r: (r.params.get("kind") != "redis_down_enqueue", _fault_sort_key(r))):
        kind = r.params.get("kind")
        if kind == "redis_down_enqueue":
            if not r.ok:
                parts.append(f"enqueue while down: run failed ({r.error})")
                continue
            d = down_enqueue(r)
            assert d is not None
            parts.append(f"enqueue while Redis is down {d.call_text()}; the shop view got {d.view_text()}")
        elif kind == "redis_restart":
            if not r.ok:
                parts.append(f"{fault_label(r.params)}: run failed ({r.error})")
                continue
            o = fault_outcome(r)
            if o is None:
                continue
            down = number(r, "down_s")
            text = (o.label[:-1] + f", {down:g} s down)" if down and o.label.endswith(")") else o.label) + ": "
            if o.manual_restart:
                text += "workers did **not** resume on their own (manual restart needed)"
            elif o.reconnect_s is not None:
                text += f"workers resumed on their own, a new task done {o.reconnect_s:.1f} s after Redis returned"
            else:
                text += "recovery not measured"
            if o.lost:
                text += f"; **{o.lost} of {o.tasks} tasks lost** ({o.lost_categories()})"
            else:
                text += f"; none of {o.tasks} tasks lost"
            if o.duplicated:
                text += f", {o.duplicated} duplicated ({o.duplicated_categories()})"
            parts.append(text)
    return "; ".join(parts)


def _redis_down_lines(ctx: Context) -> list[str]:
    """One line per backend (or per backend and profile when the profiles differ)."""
    records = [
        r
        for r in ctx.results.select(scenario="faults")
        if r.params.get("kind") in ("redis_down_enqueue", "redis_restart")
    ]
    lines = []
    for backend in ctx.backends(records):
        if backend == BASELINE:
            continue
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            reps = [r for r in records if r.backend == backend and r.profile == profile]
            if reps:
                texts[profile] = _down_sentence(ctx, reps)
        lines += _merge_profiles(ctx, texts, backend)
    return lines


def _answer_redis_down(ctx: Context) -> Answer:
    question = "What happens when Redis goes down?"
    records = [
        r
        for r in ctx.results.select(scenario="faults")
        # A fault session that failed as a whole has no kind: it did not measure Redis either.
        if r.params.get("kind", "redis_down_enqueue" if not r.ok else None) in ("redis_down_enqueue", "redis_restart")
    ]
    lines = []
    for backend in ctx.backends(records):
        if backend == BASELINE:
            continue
        mine = [r for r in records if r.backend == backend]
        parts = _down_enqueue_summary([d for r in mine if (d := down_enqueue(r)) is not None])
        outcomes = [o for r in sorted(mine, key=_fault_sort_key) if (o := fault_outcome(r)) is not None]
        if outcomes:
            reconnect = [o.reconnect_s for o in outcomes if o.reconnect_s is not None]
            if any(o.manual_restart for o in outcomes):
                parts.append("after a restart the workers needed a **manual restart**")
            elif reconnect:
                parts.append(
                    f"after a restart the workers resumed on their own (new tasks done {_range(reconnect, 's')} "
                    "after Redis returned)"
                )
            for profile in ctx.scenario_profiles("faults"):
                mine_p = [o for o in outcomes if o.record.profile == profile]
                if mine_p:
                    parts.append(
                        f"{profile}: "
                        + ", ".join(
                            f"{o.lost}/{o.tasks} lost "
                            + ("with AOF" if o.record.params.get("persistence") == "aof" else "without persistence")
                            + (f" ({o.lost_categories()})" if o.lost else "")
                            + (f" + {o.duplicated} duplicated" if o.duplicated else "")
                            for o in mine_p
                        )
                    )
        label = ctx.label(backend) + (" (failed verification, not ranked)" if backend in ctx.unverified else "")
        failed = [
            f"{fault_label(r.params) if 'kind' in r.params else 'fault scenarios'} ({r.profile}) failed: {r.error}"
            for r in mine
            if not r.ok
        ]
        lines.append(f"**{label}**: " + "; ".join(parts + failed))
    return Answer(
        question,
        lines or [NOT_MEASURED],
        "Default client settings. The enqueue call is the library's own (`.delay()`, `.send()`, calling the Huey "
        "task, `async_task`); the view is the shop's `submit()`, which records a TaskRun and turns a refused "
        "enqueue into `EnqueueFailed`. Lost after a restart: tasks that were in Redis (queued, delayed, retrying) "
        "or running when it stopped. The FAQ below tells the whole story per backend.",
    )


# --------------------------------------------------------------------------------------------------------------------
# Details per scenario


def _params_text(params: dict[str, Any], *, skip: Sequence[str] = ()) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k not in skip)


def _failure_note(ctx: Context, records: Sequence[Record]) -> list[Block]:
    bad = [r for r in records if not r.ok]
    if not bad:
        return []
    items = [
        f"{ctx.label(r.backend)} / {r.profile} / {_params_text(r.params) or 'no params'} / rep {r.repetition}: "
        f"{r.status} — {r.error or 'no reason recorded'}"
        for r in bad
    ]
    return [Paragraph("Not measured (failed or unverified):"), Bullets(items)]


def _microbench_table(ctx: Context, profile: str) -> list[Block]:
    """The pytest-benchmark cross-check of the noop enqueue, when the run has it."""
    records = ctx.results.select(scenario="enqueue_microbench", profile=profile)
    if not records:
        return []
    rows = []
    for backend in ctx.backends(records):
        reps = [r for r in records if r.backend == backend]
        ok = [r for r in reps if r.ok]
        if not ok:
            rows.append([ctx.label(backend), *["failed"] * 4, "; ".join(r.error or "?" for r in reps)])
            continue

        def med(name: str, ok: list[Record] = ok) -> float | None:
            return _median([v for v in (value(r, name) for r in ok) if v is not None])

        files = ", ".join(f"`{f}`" for r in ok for f in r.samples.get("json", []))
        mean, std = med("mean_s"), med("stddev_s")
        rows.append(
            [
                ctx.label(backend),
                format_value(None if med("median_s") is None else med("median_s") * 1e9, "ns"),
                format_value(None if med("min_s") is None else med("min_s") * 1e9, "ns"),
                f"{format_value(mean * 1e9, 'ns')} ± {format_value(std * 1e9, 'ns')}" if mean and std else "–",
                f"{med('rounds'):.0f}" if med("rounds") else "–",
                files or "–",
            ]
        )
    return [
        Heading(3, f"Enqueue microbenchmark: noop ({profile})"),
        Table(
            ["backend", "median", "min", "mean ± stddev", "rounds", "pytest-benchmark JSON (beside results.json)"],
            rows,
            "pytest-benchmark of the same noop enqueue call (GC disabled): an independent cross-check of the HDR "
            "numbers above.",
        ),
    ]


def _enqueue_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("enqueue"):
        for task in _param_values([r for r in records if r.profile == profile and "task" in r.params], "task"):
            selected = [r for r in records if r.profile == profile and r.params.get("task") == task]
            rows, chart_data = [], {}
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                merged = _merged_percentiles(reps, "latency_ns")
                if merged is None:
                    state = "unverified" if backend in ctx.unverified else "failed"
                    rows.append([ctx.label(backend), *[state] * 7])
                    continue
                per_rep = [v for v in (histogram_percentile(r, "latency_ns", "p50") for r in reps if r.ok) if v]
                spread = stats.summarize(per_rep).spread if per_rep else 0.0
                d = merged.as_dict()
                rows.append(
                    [ctx.label(backend)]
                    + [stats.format_ns(d[k]) for k in ("p50", "p90", "p99", "p99.9", "max")]
                    + [f"{merged.count:,}", f"{len(per_rep)} (p50 ±{spread * 50:.0f} %)"]
                )
                chart_data[ctx.label(backend) if backend != BASELINE else BASELINE] = d
            blocks.append(Heading(3, f"Enqueue latency: {task} ({profile})"))
            blocks.append(
                Table(
                    ["backend", "p50", "p90", "p99", "p99.9", "max", "enqueues", "repetitions"],
                    rows,
                    "Percentiles of all repetitions' histograms merged; ± is half the min–max spread of the "
                    "per-repetition p50 relative to its median.",
                )
            )
            if chart_data:
                fig = charts.enqueue_percentiles(task, chart_data, ctx.caption)
                blocks.append(Chart(f"enqueue-{profile}-{task}", f"Enqueue latency of {task} ({profile})", fig))
        blocks += _microbench_table(ctx, profile)
    return blocks + _failure_note(ctx, records)


def _throughput_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("throughput"):
        mine = [r for r in records if r.profile == profile]
        for task in _param_values(mine, "task"):
            for mode in _param_values([r for r in mine if r.params.get("task") == task], "mode") or [None]:
                selected = [r for r in mine if r.params.get("task") == task and r.params.get("mode") == mode]
                processes = _param_values(selected, "processes")
                rows, series = [], {}
                for backend in ctx.backends(selected):
                    row = [ctx.label(backend)]
                    points = []
                    for p in processes:
                        reps = [r for r in selected if r.backend == backend and r.params.get("processes") == p]
                        values = [v for v in (value(r, "tasks_per_s") for r in reps if r.ok) if v is not None]
                        if values:
                            s = stats.summarize(values)
                            points.append((int(p), s.median, s.min, s.max))
                            lost = sum(v for v in (value(r, "lost") for r in reps if r.ok) if v)
                            row.append(
                                format_value(s.median, "tasks/s")
                                + (f" [{s.min:,.0f}–{s.max:,.0f}]" if s.n > 1 else "")
                                + (f", {lost:.0f} lost" if lost else "")
                            )
                        else:
                            row.append("failed" if reps else "–")
                    rows.append(row)
                    if points:
                        series[ctx.label(backend) if backend != BASELINE else BASELINE] = points
                title = f"Throughput: {task}, {mode} ({profile})"
                blocks.append(Heading(3, title))
                blocks.append(
                    Table(
                        ["backend", *[f"{p} process{'es' if p != 1 else ''}" for p in processes]],
                        rows,
                        "Median tasks/s over repetitions [min–max], from task-side timestamps.",
                    )
                )
                if series:
                    fig = charts.throughput_vs_processes(task, str(mode), series, ctx.caption)
                    blocks.append(Chart(f"throughput-{profile}-{task}-{mode}", title, fig))
    return blocks + _failure_note(ctx, records)


def _latency_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("latency"):
        mine = [r for r in records if r.profile == profile]
        for task in _param_values(mine, "task") or [None]:
            selected = [r for r in mine if r.params.get("task") == task]
            rows, series, best_rows = [], {}, []
            for backend in ctx.backends(selected):
                reps = [r for r in selected if r.backend == backend]
                points = _rate_points(ctx, reps)
                for p in points:
                    lag = _median(
                        [
                            v
                            for r in reps
                            if r.ok and r.params.get("rate") == p.rate
                            for v in [value(r, "max_send_lag_ns")]
                            if v is not None
                        ]
                    )
                    rows.append(
                        [
                            ctx.label(backend),
                            f"{p.rate:g}",
                            "–" if p.achieved is None else f"{p.achieved:.1f}",
                            stats.format_ns(p.p50),
                            stats.format_ns(p.p99),
                            stats.format_ns(p.finish_p99),
                            f"{p.lost:.0f}",
                            stats.format_ns(lag),
                            "**saturated**" if p.saturated else "ok",
                        ]
                    )
                if points:
                    series[ctx.label(backend) if backend != BASELINE else BASELINE] = [
                        (p.rate, p.p50, p.p99, p.saturated) for p in points
                    ]
                best = _max_sustainable(points)
                top = bool(points) and best is not None and best.rate == max(p.rate for p in points)
                note = (
                    "floor, not ranked"
                    if backend == BASELINE
                    else "failed verification, not ranked"
                    if backend in ctx.unverified
                    else ""
                )
                best_rows.append(
                    [
                        ctx.label(backend),
                        "none" if best is None else f"{'≥ ' if top else ''}{best.rate:g} tasks/s",
                        note,
                    ]
                )
            title = f"Latency under load: {task} ({profile})"
            blocks.append(Heading(3, title))
            blocks.append(
                Table(
                    [
                        "backend",
                        "offered/s",
                        "achieved/s",
                        "to start p50",
                        "to start p99",
                        "to finish p99",
                        "lost",
                        "producer max lag",
                        "state",
                    ],
                    rows,
                    f"Latency from the intended send time; repetitions merged. Saturated: p99 to start above "
                    f"{format_value(ctx.bound_ns, 'ns')}, a task lost, or under 90 % of the offered rate achieved. "
                    "Producer max lag: how late the open-loop producer's worst send was (it counts in the latency).",
                )
            )
            blocks.append(Table(["backend", "maximum sustainable rate", "note"], best_rows))
            if series:
                fig = charts.latency_vs_rate(str(task), series, ctx.bound_ns / 1e6, ctx.caption)
                blocks.append(Chart(f"latency-{profile}-{task}", title, fig))
    return blocks + _failure_note(ctx, records)


def _idle_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows = []
    for profile in ctx.scenario_profiles("idle_pickup"):
        mine = [r for r in records if r.profile == profile]
        for idle in _param_values(mine, "idle_s"):
            for backend in ctx.backends(mine):
                reps = [r for r in mine if r.backend == backend and r.params.get("idle_s") == idle and r.ok]
                samples = [v for r in reps for v in flat_samples(r.samples.get("pickup_ns"))]
                if not samples:
                    continue
                rows.append(
                    [
                        ctx.label(backend),
                        profile,
                        f"{idle:g} s",
                        str(len(samples)),
                        stats.format_ns(statistics.median(samples)),
                        stats.format_ns(min(samples)),
                        stats.format_ns(max(samples)),
                    ]
                )
    return [
        Table(
            ["backend", "profile", "idle for", "samples", "median", "min", "max"],
            rows,
            "Enqueue call → task start, after the workers had been idle.",
        ),
        *_failure_note(ctx, records),
    ]


def _resources_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    blocks: list[Block] = []
    for profile in ctx.scenario_profiles("resources"):
        mine = [r for r in records if r.profile == profile]
        rows, chart_rows = [], []
        has_pss = any(value(r, "pss_idle_bytes") is not None for r in mine)
        for backend in ctx.backends(mine):
            for processes in _param_values([r for r in mine if r.backend == backend], "processes") or [None]:
                reps = [r for r in mine if r.backend == backend and r.params.get("processes") == processes and r.ok]
                if not reps:
                    continue

                def med(name: str, reps: list[Record] = reps) -> float | None:
                    return _median([v for v in (value(r, name) for r in reps) if v is not None])

                row = [ctx.label(backend), str(processes)]
                if has_pss:
                    row += [format_value(med("pss_idle_bytes"), "bytes"), format_value(med("pss_load_bytes"), "bytes")]
                row += [
                    format_value(med("rss_idle_bytes"), "bytes"),
                    format_value(med("rss_load_bytes"), "bytes"),
                    _cpu_text(med("cpu_s_per_1000")),
                ]
                rows.append(row)
                kind = "pss" if has_pss else "rss"
                chart_rows.append(
                    (f"{ctx.label(backend)} ×{processes}", med(f"{kind}_idle_bytes"), med(f"{kind}_load_bytes"))
                )
        if not rows:
            continue
        title = f"Resources ({profile})"
        blocks.append(Heading(3, title))
        headers = ["backend", "processes"]
        if has_pss:
            headers += ["PSS idle", "PSS under load"]
        headers += ["RSS idle", "RSS under load", "CPU per 1000 tasks"]
        blocks.append(
            Table(
                headers,
                rows,
                "All processes of the worker tree together, idle (1 s after the backlog drained) and the peak while "
                "draining the noop backlog; PSS shares pages common to forked processes out fairly (RSS counts them "
                "once per process). CPU = user + system seconds of the tree per 1,000 noop tasks. Medians over "
                "repetitions.",
            )
        )
        blocks.append(
            Chart(
                f"memory-{profile}",
                f"Memory per backend ({profile})",
                charts.memory(chart_rows, ctx.caption, kind="PSS" if has_pss else "RSS"),
            )
        )
    return blocks + _failure_note(ctx, records)


def _cpu_text(cpu: float | None) -> str:
    # Draining 1,000 tasks cannot take zero CPU: a 0 means the harness failed to read the workers' CPU time.
    return "0 (not read)" if cpu == 0 else format_value(cpu, "s")


def _channel_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """The channel's cost per event, and its share of a noop task at the measured throughput."""
    rows = []
    for profile in ctx.scenario_profiles("channel_overhead"):
        for backend in ctx.backends([r for r in records if r.profile == profile]):
            reps = [r for r in records if r.backend == backend and r.profile == profile and r.ok]
            if not reps:
                continue
            p50 = _median([v for v in (value(r, "write_ns_p50") for r in reps) if v is not None])
            p99 = _median([v for v in (value(r, "write_ns_p99") for r in reps) if v is not None])
            per_task, share = _channel_share(ctx, backend, profile, p50)
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    stats.format_ns(p50),
                    stats.format_ns(p99),
                    stats.format_ns(2 * p50) if p50 is not None else "–",
                    per_task,
                    share,
                ]
            )
    return [
        Table(
            [
                "backend",
                "profile",
                "write p50",
                "write p99",
                "per task (2 events)",
                "noop task time per worker process",
                "channel share",
            ],
            rows,
            "One event = one os.write of a short line to an O_APPEND file, timed in a process with the backend's "
            "environment. Every task writes two (start, finish). Noop task time per worker process = worker "
            "processes ÷ noop backlog throughput at that process count; the share is the two writes' p50 against it.",
        ),
        *_failure_note(ctx, records),
    ]


def _channel_share(ctx: Context, backend: str, profile: str, write_ns: float | None) -> tuple[str, str]:
    throughput = [
        r
        for r in ctx.results.select(backend=backend, profile=profile, scenario="throughput", params={"task": "noop"})
        if r.ok and r.params.get("mode") == "backlog" and value(r, "tasks_per_s")
    ]
    if not throughput or write_ns is None:
        return "–", "–"
    processes = ctx.default_processes
    at = [r for r in throughput if r.params.get("processes") == processes] or throughput
    p = at[0].params.get("processes") or 1
    tps = _median([value(r, "tasks_per_s") or 0.0 for r in at]) or 0.0
    if not tps:
        return "–", "–"
    per_task_ns = float(p) / tps * 1e9
    return (
        f"{stats.format_ns(per_task_ns)} ({p} processes, {tps:,.0f} tasks/s)",
        f"{2 * write_ns / per_task_ns * 100:.2g} %",
    )


def _generic_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """Any scenario: one row per (backend, profile, params), each numeric value's median over repetitions."""
    metrics = metrics_for(records[0].scenario if records else "", records)
    names = list(dict.fromkeys(k for r in records for k, v in r.values.items() if isinstance(v, int | float)))
    rows = []
    for key, reps in sorted(ctx.results.groups(scenario=records[0].scenario).items() if records else []):
        backend, profile = key[0], key[1]
        ok = [r for r in reps if r.ok]
        row = [ctx.label(backend), profile, _params_text(reps[0].params) or "–", str(len(ok))]
        for name in names:
            med = _median([v for v in (value(r, name) for r in ok) if v is not None])
            row.append("–" if med is None else f"{med:.4g}")
        rows.append(row)
    del metrics  # the registry only decides comparisons; tables show every value
    return [
        Table(["backend", "profile", "params", "repetitions", *names], rows, "Medians over ok repetitions."),
        *_failure_note(ctx, records),
    ]


def _retries_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, checks, timeline = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, _profile_index(r.profile), _retry_sort_key(r), r.repetition)):
        if not r.ok:
            continue
        if is_check(r):
            check = str(r.params.get("check"))
            text = visibility_text(r) if check == "exhausted_visibility" else survival_text(r)
            detail = r.notes.get("detail")
            detail_text = (
                ", ".join(f"{k}: {v}" for k, v in detail.items()) if isinstance(detail, dict) else str(detail or "")
            )
            checks.append([ctx.label(r.backend), r.profile, check, text, detail_text or "–"])
            continue
        f = retry_facts(r)
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                f.task,
                "forever" if f.forever else f"{f.fail_times}×",
                str(f.tasks),
                f.attempts_text(),
                "library default" if f.expected is None else str(f.expected),
                "–" if f.succeeded is None else f"{f.succeeded}/{f.tasks}",
                "–" if f.configured_s is None else f"{f.configured_s:g} s",
                f"{sum(f.gaps_s) / len(f.gaps_s):.3f} s" if f.gaps_s else "–",
                f"{min(f.gaps_s):.3f}–{max(f.gaps_s):.3f} s" if f.gaps_s else "–",
                "–" if f.gap_error_max_s is None else f"{f.gap_error_max_s * 1e3:.0f} ms",
                "–" if f.window_s is None else f"{f.window_s:g} s",
            ]
        )
        if f.timeline_s and (f.attempts_max > 1 or f.expected):
            configured = []
            if f.configured_s is not None and f.expected:
                configured = [i * f.configured_s for i in range(f.expected)]
            label = f"{ctx.label(r.backend)} {f.task} {'forever' if f.forever else f'{f.fail_times}×'} ({r.profile})"
            timeline.append((label, f.timeline_s, configured))
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "task",
                "fails",
                "tasks",
                "attempts",
                "expected",
                "succeeded",
                "configured delay",
                "mean gap",
                "gap range",
                "max gap error",
                "window",
            ],
            rows,
            "Attempts per task (min–max) and gaps between consecutive attempt starts of one task, from the task "
            "side's start events.",
        )
    ]
    if checks:
        blocks.append(
            Table(
                ["backend", "profile", "check", "result", "detail"],
                checks,
                "exhausted_visibility: where the library itself records tasks whose retries ran out (its own API).",
            )
        )
    if timeline:
        blocks.append(Chart("retry-timelines", "Retry timelines", charts.retry_timelines(timeline, ctx.caption)))
    return blocks + _failure_note(ctx, records)


def _faults_details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    rows, chart_rows, down_rows = [], [], []
    for r in sorted(records, key=lambda r: (r.backend, _profile_index(r.profile), *_fault_sort_key(r))):
        if not r.ok:
            continue
        if r.params.get("kind") == "redis_down_enqueue":
            d = down_enqueue(r)
            assert d is not None
            down_rows.append([ctx.label(r.backend), r.profile, d.call_text(), d.message or "–", d.view_text()])
            continue
        o = fault_outcome(r)
        if o is None:
            rows.append([ctx.label(r.backend), r.profile, fault_label(r.params), *["–"] * 7])
            continue
        timings = o.timing()
        before = value(r, "finished_before_restart")
        if before is not None:
            timings += f"; {before:.0f} finished before the workers were restarted"
        rows.append(
            [
                ctx.label(r.backend),
                r.profile,
                o.label,
                str(o.tasks),
                str(o.completed),
                str(o.duplicated),
                str(o.lost),
                o.lost_categories() or "–",
                o.duplicated_categories() or "–",
                timings.strip("; ") or "–",
            ]
        )
        chart_rows.append((f"{ctx.label(r.backend)} {o.label} ({r.profile})", o.completed, o.duplicated, o.lost))
    blocks: list[Block] = [
        Table(
            [
                "backend",
                "profile",
                "fault",
                "tasks",
                "completed once",
                "duplicated",
                "lost",
                "lost by category",
                "duplicated by category",
                "timings",
            ],
            rows,
            "Every task id enqueued before the fault ends in exactly one of completed once / duplicated / lost "
            "(task-side finish events within the window). Categories: "
            + "; ".join(f"{k} = {v}" for k, v in CATEGORIES.items())
            + ".",
        )
    ]
    if down_rows:
        blocks.append(
            Table(
                ["backend", "profile", "enqueue call while Redis is down", "message", "shop view (`submit`)"],
                down_rows,
                "The library's own enqueue call and the shop's view-side submit, each timed in a thread (a call "
                "still running after the limit counts as blocking).",
            )
        )
    if chart_rows:
        blocks.append(Chart("fault-outcomes", "Fault outcomes", charts.fault_outcomes(chart_rows, ctx.caption)))
    return blocks + _failure_note(ctx, records)


def _faq(ctx: Context) -> list[Block]:
    """Issue 4's FAQ: the tutorial's two questions, answered per backend with the measured numbers."""
    blocks: list[Block] = [Heading(2, "FAQ: the tutorial's two questions, measured")]
    blocks.append(Heading(3, "What happens if Redis goes down?"))
    blocks.append(
        Paragraph(
            "The tutorial's answer: “Your tasks won't be sent or picked up. But once Redis comes back, things "
            "should resume.” Measured, per backend:"
        )
    )
    lines = _redis_down_lines(ctx)
    blocks.append(Bullets(lines) if lines else Paragraph(f"Redis fault scenarios: {NOT_MEASURED}."))
    worker = _worker_fault_lines(ctx)
    if worker:
        blocks.append(Paragraph("And when a worker dies instead (the other half of “things should resume”):"))
        blocks.append(Bullets(worker))
    blocks.append(Heading(3, "Can I retry failed tasks?"))
    blocks.append(Paragraph("The tutorial's answer: “Yes!”. Measured, per backend:"))
    items = []
    records = ctx.results.select(scenario="retries")
    for backend in ctx.backends(records):
        if backend == BASELINE:
            continue
        texts = {
            profile: _retry_sentence(ctx, [r for r in records if r.backend == backend and r.profile == profile])
            for profile in ctx.scenario_profiles("retries")
            if any(r.backend == backend and r.profile == profile for r in records)
        }
        items += _merge_profiles(ctx, texts, backend)
    blocks.append(Bullets(items) if items else Paragraph(f"Retries: {NOT_MEASURED}."))
    return blocks


def _worker_fault_lines(ctx: Context) -> list[str]:
    """Per backend: SIGKILL/SIGTERM outcomes in words."""
    records = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") in ("sigkill", "sigterm")]
    lines = []
    for backend in ctx.backends(records):
        texts = {}
        for profile in ctx.scenario_profiles("faults"):
            parts = []
            for r in sorted((r for r in records if r.backend == backend and r.profile == profile), key=_fault_sort_key):
                o = fault_outcome(r)
                if o is None:
                    parts.append(f"{fault_label(r.params)}: run failed ({r.error})")
                    continue
                text = f"{o.label}: " + (
                    f"**{o.lost} of {o.tasks} lost** ({o.lost_categories()})" if o.lost else f"none of {o.tasks} lost"
                )
                if o.duplicated:
                    text += f", {o.duplicated} duplicated"
                if o.timing():
                    text += f", {o.timing()}"
                parts.append(text)
            if parts:
                texts[profile] = "; ".join(parts)
        lines += _merge_profiles(ctx, texts, backend)
    return lines


_DETAILS: dict[str, tuple[str, Callable[[Context, Sequence[Record]], list[Block]]]] = {
    "enqueue": ("Enqueue latency", _enqueue_details),
    "throughput": ("Throughput", _throughput_details),
    "latency": ("End-to-end latency under load", _latency_details),
    "idle_pickup": ("Idle pickup latency", _idle_details),
    "resources": ("Resources", _resources_details),
    "channel_overhead": ("Measurement channel overhead", _channel_details),
    "retries": ("Retries", _retries_details),
    "faults": ("Faults", _faults_details),
}


# --------------------------------------------------------------------------------------------------------------------
# Settings, environment, method


def _settings(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Settings per backend and profile")]
    for name, info in ctx.results.backends.items():
        if not isinstance(info, dict):
            continue
        versions = ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items()) or "no versions recorded"
        blocks.append(Heading(3, f"{info.get('label') or name} ({versions})"))
        if name in ctx.unverified:
            blocks.append(Paragraph(f"**Failed verification, not ranked:** {ctx.unverified[name]}"))
        described = info.get("profiles") or {}
        for profile, pinfo in described.items():
            argv = " ".join(str(a) for a in pinfo.get("worker_argv") or []) or "–"
            blocks.append(Paragraph(f"**{profile}** — worker command: `{argv}`"))
            settings = pinfo.get("settings") or []
            if settings:
                blocks.append(
                    Table(
                        ["setting", "value", "library default", "reason"],
                        [
                            [str(s.get("setting")), str(s.get("value")), str(s.get("default")), str(s.get("reason"))]
                            for s in settings
                        ],
                    )
                )
            else:
                blocks.append(Paragraph("All library defaults."))
        missing = [p for p in ctx.profiles() if p not in described and ctx.results.select(backend=name, profile=p)]
        for profile in missing:
            blocks.append(
                Paragraph(
                    f"**{profile}** — measured, but this results file does not record the profile's worker command "
                    "and settings." + (" The `safe` profile also sets SHOP_FAST_FAULTS=1." if profile == "safe" else "")
                )
            )
    return blocks


def _verification(ctx: Context) -> list[Block]:
    """Per backend and profile: verified before measuring, failed verification, or a crashed session."""
    rows = []
    for backend in ctx.backends(ctx.results.records):
        for profile in ctx.profiles():
            mine = ctx.results.select(backend=backend, profile=profile)
            if not mine:
                continue
            verification = [r for r in mine if r.scenario == "verification" and not r.ok]
            crashed = [r for r in mine if r.scenario == "session" and not r.ok]
            unverified = [r for r in mine if r.status == "unverified"]
            measured = [r for r in mine if r.ok]
            failed = [r for r in mine if not r.ok and r.scenario not in STATUS_SCENARIOS and r.status != "unverified"]
            if verification or unverified:
                status = "**failed verification** — " + "; ".join(
                    r.error or "no reason recorded" for r in verification + unverified
                )
            elif backend == BASELINE:
                status = "raw Redis floor: no shop tasks; its readiness probe (a noop round trip) is its check"
            elif measured:
                status = "passed (the shop's real work checked on its real workers before measuring)"
            else:
                status = "nothing measured"
            if crashed:
                status += "; " + "; ".join(f"session crashed ({_params_text(r.params)}): {r.error}" for r in crashed)
            rows.append(
                [
                    ctx.label(backend),
                    profile,
                    status,
                    str(len(measured)),
                    str(len(failed)) if failed else "0",
                ]
            )
    return [
        Table(
            ["backend", "profile", "verification", "records measured", "records failed"],
            rows,
            "A backend that fails verification is shown as failed and never ranked; failed records are listed with "
            "their reason under each scenario.",
        )
    ]


def _environment(ctx: Context) -> list[Block]:
    env = ctx.results.environment
    run = ctx.results.run
    fields = [
        ("run id", run.get("id")),
        ("preset", run.get("preset")),
        ("repetitions", run.get("repetitions")),
        ("started", run.get("started_at")),
        ("finished", run.get("finished_at") or "not finished (the run was still going or was interrupted)"),
        ("command", " ".join(str(a) for a in run.get("argv") or []) or None),
        ("run order seed", run.get("seed")),
        ("broker", run.get("redis")),
        ("git commit", f"{env.get('git_commit')}{' (dirty)' if env.get('git_dirty') else ''}"),
        ("hostname", env.get("hostname")),
        ("CPU", env.get("cpu_model")),
        ("cores", env.get("cpu_count")),
        ("memory", f"{env['memory_bytes'] / 2**30:.1f} GiB" if env.get("memory_bytes") else None),
        ("load average at start / end", f"{env.get('load_average_start')} / {env.get('load_average_end')}"),
        ("platform", env.get("platform")),
        ("Python", f"{env.get('python')} ({env.get('python_implementation', '?')})"),
        ("Redis", env.get("redis_version")),
        ("Django database (every backend)", database_label(env)),
    ]
    rows = [[k, str(v)] for k, v in fields if v is not None]
    rows += [[name, version] for name, version in key_versions(env).items()]
    blocks: list[Block] = [Heading(2, "Environment"), Table(["", "value"], rows)]
    if ctx.preset:
        blocks.append(
            Table(
                ["preset parameter", "value"],
                [[k, _plain(v)] for k, v in ctx.preset.items()],
                "The workload sizes of the run (bench/presets.toml).",
            )
        )
    packages = env.get("packages") or {}
    if packages:
        blocks.append(Paragraph("All installed distributions: " + ", ".join(f"{k} {v}" for k, v in packages.items())))
    return blocks


def _plain(v: Any) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} = {x}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return str(v)


def _method(ctx: Context) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Method"), Paragraph(METHOD["general"])]
    present = [s for s in ctx.results.scenarios if s not in STATUS_SCENARIOS and s not in FOLDED_SCENARIOS]
    ordered = [s for s in KNOWN_SCENARIOS if s in present] + [s for s in present if s not in KNOWN_SCENARIOS]
    for scenario in ordered:
        blocks.append(Paragraph(f"**{scenario}** — {method_for(scenario, ctx.preset)}"))
    return blocks


# --------------------------------------------------------------------------------------------------------------------


def build(results: RunResults) -> list[Block]:
    """The whole report as blocks, in reading order."""
    ctx = _context(results)
    run = results.run
    blocks: list[Block] = [Heading(1, f"Django task queue benchmark — run {run.get('id', '?')}")]
    if run.get("preset") == SYNTHETIC_PRESET:
        blocks.append(
            Paragraph("**SYNTHETIC TEST DATA — NOT A MEASUREMENT.** This report was generated from a test fixture.")
        )
    real = [b for b in results.backend_names if b != BASELINE]
    blocks.append(
        Paragraph(
            f"Preset **{run.get('preset', '?')}**, {run.get('repetitions', '?')} repetition(s), profiles "
            f"{', '.join(ctx.profiles()) or '–'}, backends {', '.join(ctx.label(b) for b in real) or '–'}"
            + (
                f", and the raw Redis floor ({ctx.label(BASELINE)}, never ranked)"
                if BASELINE in results.backend_names
                else ""
            )
            + f". {ctx.caption}."
        )
    )
    if not run.get("finished_at"):
        blocks.append(Paragraph("**This run had not finished when the report was written: results are partial.**"))
    if ctx.unverified:
        blocks.append(
            Paragraph(
                "**Failed verification (shown, never ranked):** "
                + "; ".join(f"{ctx.label(b)} — {e}" for b, e in ctx.unverified.items())
            )
        )
    else:
        verified = [ctx.label(b) for b in real if any(r.ok for r in results.select(backend=b))]
        if verified:
            blocks.append(Paragraph(f"Verified before measuring: {', '.join(verified)} (see Verification)."))
    blocks.append(Heading(2, "Answers"))
    blocks += [
        _answer_enqueue(ctx),
        _answer_throughput(ctx),
        _answer_latency(ctx),
        *_answer_faults(ctx),
        *_answer_retries(ctx),
        _answer_redis_down(ctx),
    ]
    blocks += _faq(ctx)
    blocks.append(Heading(2, "Details"))
    blocks.append(Heading(3, "Verification"))
    blocks += _verification(ctx)
    present = [s for s in results.scenarios if s not in STATUS_SCENARIOS and s not in FOLDED_SCENARIOS]
    for scenario in [*KNOWN_SCENARIOS, *[s for s in present if s not in KNOWN_SCENARIOS]]:
        title, render = _DETAILS.get(scenario, (f"Scenario {scenario}", _generic_details))
        records = results.select(scenario=scenario)
        blocks.append(Heading(3, title))
        if not records:
            blocks.append(Paragraph(f"{title}: {NOT_MEASURED}."))
            continue
        blocks += _demote(render(ctx, records))
    blocks += _settings(ctx)
    blocks += _environment(ctx)
    blocks += _method(ctx)
    return blocks


def _demote(blocks: list[Block]) -> list[Block]:
    """Sub-headings of a scenario sit one level below the scenario's own heading."""
    return [Heading(4, b.text) if isinstance(b, Heading) else b for b in blocks]
