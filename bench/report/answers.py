"""The report's opening: the scorecard (backends × questions) and the Answers that lead with ratios to the floor.

Every figure is a :data:`bench.report.figures.FIGURES` entry, with its ratio to the floor from
:mod:`bench.report.derived`, so the scorecard, the Answers and the terminal summary say the same thing. Backends are
ranked by their absolute figure (one run, one machine); each figure is given as a ratio to the backend's own floor (the
raw broker loop measured in the same run), with the absolute value beside it and the machine named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.report import charts, derived, layers
from bench.report.context import (
    BASELINE,
    FAULT_ORDER,
    NOT_MEASURED,
    Context,
    fault_sort_key,
    merge_profiles,
    network_line,
    param_values,
)
from bench.report.facts import (
    BROKER_FAULTS,
    DOWN_ENQUEUE_KINDS,
    FaultOutcome,
    RuleNotes,
    TransactionFacts,
    down_enqueue,
    fault_label,
    fault_outcome,
    fault_short_label,
    is_check,
    on_commit_fixed,
    on_commit_text,
    premise_not_met,
    premise_text,
    retry_variant,
    retry_variants,
    transaction_facts,
)
from bench.report.figures import BAD, FIGURES, GOOD, MID, NA, thresholds_legend, tone_by_factor
from bench.report.model import Answer, Cell, Scorecard, ScoreRow
from bench.report.numbers import duration_ns, duration_s, rate_text, ratio_text, seconds_text
from bench.results import Record

_API_LABELS = {"native": "native API", "django.tasks": "django.tasks"}
_BROKER_LABELS = {"redis": "Redis broker", "database": "database broker", "rabbitmq": "RabbitMQ broker"}
# --------------------------------------------------------------------------------------------------------------------
# The performance figures every part of the opening uses


def headline_profile(ctx: Context, scenario: str) -> str | None:
    """The headline profile of a scenario: ``shipped`` (as the Django integration's docs set it up) when measured."""
    profiles = ctx.scenario_profiles(scenario)
    return "shipped" if "shipped" in profiles else (profiles[0] if profiles else None)


def _noop_or_first(records: Sequence[Record]) -> str | None:
    tasks = param_values(records, "task")
    return "noop" if "noop" in tasks else (tasks[0] if tasks else None)


@dataclass
class Ranked:
    """Backends of one figure, best first, with the floors and who could not be ranked."""

    what: str  # e.g. "p50 of one `noop` enqueue call"
    unit: str
    higher_is_better: bool
    ranked: list[tuple[str, derived.Measured]]
    floors: dict[str, derived.Measured]
    excluded: list[str]

    def best(self) -> derived.Measured | None:
        """The best backend's figure."""
        return self.ranked[0][1] if self.ranked else None

    def factor(self, fig: derived.Measured) -> float | None:
        """How far a figure is from the best one (≥ 1)."""
        best = self.best()
        if best is None or best.median is None or fig.median is None or not best.median or not fig.median:
            return None
        return fig.median / best.median if not self.higher_is_better else best.median / fig.median

    def tone(self, fig: derived.Measured) -> str:
        """Good when near the best or not significantly worse; middling or bad by the factor (``tone_by_factor``)."""
        best = self.best()
        if best is None:
            return NA
        worse = derived.significantly_worse(best.values, fig.values, higher_is_better=self.higher_is_better)
        if worse is False:
            return GOOD
        return tone_by_factor(self.factor(fig))


def _rank(
    ctx: Context,
    what: str,
    unit: str,
    higher_is_better: bool,
    backends: Sequence[str],
    make: Callable[[str], derived.Measured],
    reasons: Callable[[str], str],
) -> Ranked:
    ranked, floors, excluded = [], {}, []
    for backend in backends:
        fig = make(backend)
        if ctx.is_floor(backend):
            if fig.values:
                floors[backend] = fig
        elif backend in ctx.unverified:
            excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
        elif not fig.values:
            excluded.append(f"{ctx.label(backend)}: {reasons(backend)}")
        else:
            ranked.append((backend, fig))
    ranked.sort(key=lambda item: item[1].median or 0.0, reverse=higher_is_better)
    return Ranked(what, unit, higher_is_better, ranked, floors, excluded)


def _failed_reason(ctx: Context, backend: str, scenario: str) -> str:
    errors = {r.error for r in ctx.results.select(backend=backend, scenario=scenario) if r.error}
    return "failed (" + "; ".join(sorted(errors)) + ")" if errors else "not measured"


def enqueue_ranking(ctx: Context) -> Ranked | None:
    """p50 enqueue latency of the noop task, first profile."""
    profile = headline_profile(ctx, "enqueue")
    records = ctx.results.select(scenario="enqueue", profile=profile) if profile else []
    task = _noop_or_first(records)
    if task is None or profile is None:
        return None
    params = {"task": task}
    backends = ctx.backends([r for r in ctx.results.select(scenario="enqueue", params=params)])
    return _rank(
        ctx,
        f"{profile}, p50 of one `{task}` enqueue call",
        "ns",
        False,
        backends,
        lambda b: derived.figure(ctx.results, b, profile, FIGURES["enqueue_p50"], params),
        lambda b: _failed_reason(ctx, b, "enqueue"),
    )


def throughput_setting(ctx: Context) -> tuple[str, dict[str, object]] | None:
    """(profile, params) of the headline throughput: noop backlog at the machine's core count."""
    profile = headline_profile(ctx, "throughput")
    if profile is None:
        return None
    records = ctx.results.select(scenario="throughput", profile=profile)
    task = _noop_or_first(records)
    mine = [r for r in records if r.params.get("task") == task]
    modes = param_values(mine, "mode")
    mode = "backlog" if "backlog" in modes else (modes[0] if modes else None)
    mine = [r for r in mine if r.params.get("mode") == mode]
    measured = [r for r in mine if r.ok and not ctx.is_floor(r.backend)]
    processes = derived.headline_processes(ctx.results, param_values(measured or mine, "processes"))
    params: dict[str, object] = {"task": task, "processes": processes}
    if mode is not None:
        params["mode"] = mode
    return profile, params


def throughput_ranking(ctx: Context) -> Ranked | None:
    """Tasks/s of the headline throughput setting."""
    setting = throughput_setting(ctx)
    if setting is None:
        return None
    profile, params = setting
    backends = ctx.backends(ctx.results.select(scenario="throughput", params=params))
    mode = f" {params['mode']}" if params.get("mode") else ""
    return _rank(
        ctx,
        f"{profile}, `{params['task']}`{mode}, {params['processes']} worker processes",
        "tasks/s",
        True,
        backends,
        lambda b: derived.figure(ctx.results, b, profile, FIGURES["tasks_per_s"], params),
        lambda b: _failed_reason(ctx, b, "throughput"),
    )


def latency_states(ctx: Context, profile: str) -> dict[str, list[derived.RateState]]:
    """backend → the state of each offered rate (noop task)."""
    records = ctx.results.select(scenario="latency", profile=profile)
    task = _noop_or_first(records)
    states = {}
    for backend in ctx.backends(records):
        mine = [r for r in records if r.backend == backend and r.params.get("task") == task]
        states[backend] = derived.rate_states(mine, ctx.bound_ns)
    return states


def _floor_states(ctx: Context, backend: str, profile: str) -> list[derived.RateState]:
    floor = ctx.floor_of(backend)
    if floor is None:
        return []
    records = ctx.results.select(backend=floor, scenario="latency", profile=profile) or ctx.results.select(
        backend=floor, scenario="latency"
    )
    return derived.rate_states(records, ctx.bound_ns)


def _p99_ratio(ctx: Context, backend: str, profile: str, state: derived.RateState) -> float | None:
    """p99 to start at a rate ÷ the floor's p99 at the same rate."""
    floor = next((s for s in _floor_states(ctx, backend, profile) if s.rate == state.rate), None)
    return state.p99 / floor.p99 if floor is not None and floor.p99 else None


# --------------------------------------------------------------------------------------------------------------------
# Wording shared by the scorecard and the answers


def figure_text(ctx: Context, backend: str, fig: derived.Measured, unit: str) -> tuple[str, str]:
    """('1.6× floor', '40 µs') or, for throughput, ('8 % of floor', '2,600 tasks/s'); no floor: (absolute, '')."""
    absolute = _absolute(fig.median, unit)
    ratio = fig.ratio
    if ratio is None:
        return absolute, ""
    if unit == "tasks/s":
        share = ratio * 100
        return (f"{share:.0f} % of floor" if share >= 10 else f"{share:.2g} % of floor"), absolute
    return f"{ratio_text(ratio)} floor", absolute


def _absolute(number: float | None, unit: str) -> str:
    if unit == "ns":
        return duration_ns(number)
    return rate_text(number)


def _ranking_line(ctx: Context, ranking: Ranked) -> str:
    """'**Huey** 1.6× floor (40 µs); Dramatiq 2.4× floor (60 µs; vs Huey: 1.5x, p<0.001); …; floors …'."""
    if not ranking.ranked:
        return f"{ranking.what}: no backend measured" + "".join(f"; {e}" for e in ranking.excluded)
    best_backend, best = ranking.ranked[0]
    parts = []
    for i, (backend, fig) in enumerate(ranking.ranked):
        main, absolute = figure_text(ctx, backend, fig, ranking.unit)
        name = f"**{ctx.label(backend)}**" if i == 0 else ctx.label(backend)
        inner = [absolute] if absolute else []
        if fig.floor and fig.floor != BASELINE:
            inner.append(f"floor: {ctx.label(fig.floor)}")
        if i > 0:
            test = derived.test_text(best.values, fig.values, higher_is_better=ranking.higher_is_better)
            inner.append(f"vs {ctx.label(best_backend)}: {test}")
        parts.append(f"{name} {main}" + (f" ({'; '.join(inner)})" if inner else ""))
    floors = [f"{ctx.label(f)} {_absolute(fig.median, ranking.unit)}" for f, fig in ranking.floors.items()]
    text = f"{ranking.what}, on {ctx.machine}: " + "; ".join(parts)
    if floors:
        text += "; floors (not ranked): " + ", ".join(floors)
    return text + "".join(f"; {e}" for e in ranking.excluded)


def sustained_text(ctx: Context, backend: str, profile: str, states: Sequence[derived.RateState]) -> str:
    """'≥ 800 tasks/s (p99 2.1 ms, 1.1× floor)' or '200 tasks/s (at 800/s: saturated, 480 of 800 completed/s)'."""
    best = derived.max_sustainable(states)
    failure = derived.first_failure(states)
    if best is None:
        return f"none (at {failure.rate:g}/s {failure_text(failure)})" if failure else "–"
    ratio = _p99_ratio(ctx, backend, profile, best)
    inner = f"p99 to start {duration_ns(best.p99)}" + (f", {ratio_text(ratio)} floor" if ratio else "")
    if failure is not None:
        inner += f"; at {failure.rate:g}/s {failure_text(failure)}"
    return f"{derived.sustainable_text(states)} ({inner})"


def failure_text(state: derived.RateState) -> str:
    """Why a rate was not sustained, with the numbers that say so."""
    if (
        state.state == derived.SATURATED
        and state.sent_per_s is not None
        and state.sent_per_s < derived.SEND_SHARE * state.rate
    ):
        return f"saturated: sent only {rate_text(state.sent_per_s, 'tasks/s')} (the enqueue path fell behind)"
    if state.state == derived.SATURATED:
        done = rate_text(state.completed_per_s, "completed/s")
        sent = rate_text(state.sent_per_s, "sent/s")
        bound = "" if state.completed_exact else " (a lower bound)"
        return f"saturated: {done}{bound} of {sent}"
    if state.state == derived.OVER_BOUND:
        return f"over the latency bound: p99 to start {duration_ns(state.p99)}, completions kept up"
    if state.state == derived.LOST:
        return f"tasks lost ({state.lost:.0f})"
    return state.state


# --------------------------------------------------------------------------------------------------------------------
# Faults: per fault, per backend


def fault_kinds(ctx: Context) -> list[tuple[str, str | None]]:
    """(kind, persistence) of every fault with tasks at risk, in reading order."""
    found = {
        (r.params.get("kind"), r.params.get("persistence"))
        for r in ctx.results.select(scenario="faults")
        # Enqueue in a transaction and Redis down at enqueue have no tasks at risk: they have their own answers.
        if r.params.get("kind") not in (None, *DOWN_ENQUEUE_KINDS, "transaction")
    }
    ordered = [k for k in FAULT_ORDER if k in found]
    return ordered + sorted((k for k in found if k not in FAULT_ORDER), key=str)  # type: ignore[arg-type]


def _fault_records(ctx: Context, kind: str, persistence: str | None, profile: str) -> list[Record]:
    return sorted(
        (
            r
            for r in ctx.results.select(scenario="faults", profile=profile)
            if r.params.get("kind") == kind and r.params.get("persistence") == persistence
        ),
        key=fault_sort_key,
    )


def fast_fault_settings(ctx: Context, backend: str, profile: str) -> str:
    """'visibility_timeout 10 instead of 3600': the timeouts a profile shortened for the fault window."""
    info = ctx.results.backends.get(backend) or {}
    settings = ((info.get("profiles") or {}).get(profile) or {}).get("settings") or []
    shortened = []
    for s in settings:
        if not str(s.get("reason", "")).startswith("SHOP_FAST_FAULTS"):
            continue
        value, default = s.get("value"), s.get("default")
        if isinstance(value, dict) and isinstance(default, dict):  # e.g. broker_transport_options: the keys changed
            shortened += [
                f"{s.get('setting')}.{k} {v} instead of {default.get(k)}"
                for k, v in value.items()
                if default.get(k) != v
            ]
        else:
            shortened.append(f"{s.get('setting')} {value} instead of {default}")
    return ", ".join(shortened)


def fault_tone(o: FaultOutcome) -> str:
    """Bad when a task is gone (or, in older records, not finished); middling when stranded, failed or duplicated.

    Scheduled past the redelivery timeout (``long_delay``): duplicates are the finding, so they are bad there.
    """
    if (o.gone if o.classified else o.lost) > 0:
        return BAD
    if o.kind == "long_delay" and o.duplicated:
        return BAD
    if o.stranded or o.failed or o.duplicated or o.started_early:
        return MID
    return GOOD


def fault_cell_text(o: FaultOutcome) -> str:
    """'gone 2/12 · 8 stranded · 2 failed · 1 dup' (older records, unclassified: 'not finished 10/16')."""
    if o.kind == "long_delay":
        parts = [f"ran once {o.completed}/{o.tasks}"]
    elif o.classified:
        of = o.at_risk if o.at_risk is not None else o.tasks
        parts = [f"gone {o.gone}/{of}"]
    else:
        parts = [f"not finished {o.lost}/{o.tasks}"]
    if o.classified:
        if o.kind == "long_delay" and o.gone:
            parts.append(f"{o.gone} gone")
        if o.stranded:
            parts.append(f"{o.stranded} stranded")
        if o.failed:
            parts.append(f"{o.failed} failed")
    if o.duplicated:
        parts.append(f"{o.duplicated} dup")
    if o.started_early:
        parts.append(f"{o.started_early} early")
    return " · ".join(parts)


def _fault_sort(o: FaultOutcome) -> tuple[int, int, int, int, str]:
    return (o.gone if o.classified else o.lost, o.stranded, o.failed, o.duplicated, o.record.backend)


def fault_rule_notes(ctx: Context) -> RuleNotes:
    """A fresh footnote register for one block of the report."""
    return RuleNotes()


def answer_faults(ctx: Context) -> Answer:
    """Per fault and profile, each backend's outcome in the classification's words; premise once, rules as footnotes."""
    question = "Which backend keeps my tasks when workers die or Redis restarts?"
    kinds = fault_kinds(ctx)
    if not kinds:
        return Answer(question, [NOT_MEASURED], "")
    notes = fault_rule_notes(ctx)
    every = [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") in {k for k, _ in kinds}]
    premises = list(dict.fromkeys(p for r in every if (p := premise_text(r))))
    lines = []
    for kind, persistence in kinds:
        title = fault_label(
            next(
                (r.params for r in every if (r.params.get("kind"), r.params.get("persistence")) == (kind, persistence)),
                {"kind": kind, "persistence": persistence},
            )
        )
        for profile in ctx.scenario_profiles("faults"):
            records = [r for r in _fault_records(ctx, kind, persistence, profile) if not ctx.is_floor(r.backend)]
            if not records:
                continue
            outcomes = sorted((o for r in records if (o := fault_outcome(r)) is not None), key=_fault_sort)
            parts = []
            for o in outcomes:
                name = ctx.label(o.record.backend)
                shortened = fast_fault_settings(ctx, o.record.backend, profile)
                if shortened:
                    name += f" (SHOP_FAST_FAULTS: {shortened})"
                if o.record.backend in ctx.unverified:
                    name += " (failed verification, not ranked)"
                parts.append(f"{name}: {o.verdict(notes, short=True)}")
            for r in records:
                why = premise_not_met(r)
                if why is not None:
                    parts.append(f"{ctx.label(r.backend)}: **premise not met**, not ranked ({why})")
                elif not r.ok:
                    parts.append(f"{ctx.label(r.backend)}: could not be set up ({r.error or 'no reason recorded'})")
            windows = sorted({o.window_s for o in outcomes if o.window_s})
            context = []
            if windows and kind != "long_delay":  # the long-delay verdict says its own window
                context.append("window " + "/".join(seconds_text(w) for w in windows) + " after the fault")
            mine = [p for r in records if (p := premise_text(r))]
            if len(premises) > 1 and mine:
                context.append("premise: " + "; ".join(dict.fromkeys(mine)))
            head = f"**{title}**, {profile}" + (f" ({'; '.join(context)})" if context else "")
            lines.append(head + ": " + "; ".join(parts))
    lines += layers.layer_lines(ctx)
    premise = (
        f"Premise of every fault with tasks at risk, checked at the fault instant (a fault whose premise did not "
        f"hold says so; what was seen: Details): "
        f"{premises[0]}. "
        if len(premises) == 1
        else ""
    )
    caveat = (
        premise + "One run per backend, fault and profile: counts, not rates, never summed across faults. At risk = "
        "tasks not finished when the fault hit; gone = held nowhere after the window; stranded = still held by the "
        "library, which would hand it back later (when, and by which setting, in parentheses); failed = recorded "
        "as failed by the library itself (visible in its admin or result store); older results files only say "
        "'not finished within the window (not classified)'. `shipped` is the library defaults; `bare` the library "
        "alone, without its Django integration (where the two differ, the integration causes it); `safe` is each "
        "library's documented at-least-once setup, with the timeouts named in the sentence shortened so "
        "redelivery fits the window. Duplicates are harmless only for idempotent tasks; for tasks scheduled past "
        "the redelivery timeout they are the finding."
    )
    return Answer(question, lines, caveat, notes.lines())


# --------------------------------------------------------------------------------------------------------------------
# Enqueue inside a transaction


def database_text(ctx: Context) -> str:
    """The database the transaction records ran on: ``environment["database"]``, else Django's SQLite default."""
    db = ctx.results.environment.get("database")
    if isinstance(db, dict):
        parts = [str(db.get(k)) for k in ("vendor", "engine", "version") if db.get(k)]
        return " ".join(dict.fromkeys(parts)) or "the configured database"
    if db:
        return str(db)
    return "SQLite, the default database"


def _is_sqlite(ctx: Context) -> bool:
    return "sqlite" in database_text(ctx).lower()


def transaction_records(ctx: Context) -> list[Record]:
    return [r for r in ctx.results.select(scenario="faults") if r.params.get("kind") == "transaction"]


def transactions_by_backend(ctx: Context, profile: str) -> dict[str, dict[str, TransactionFacts]]:
    """backend → mode → facts (first ok repetition), in the modes' reading order."""
    found: dict[str, dict[str, TransactionFacts]] = {}
    for r in sorted(transaction_records(ctx), key=lambda r: r.repetition):
        if r.profile != profile or ctx.is_floor(r.backend):
            continue
        f = transaction_facts(r)
        if f is not None:
            found.setdefault(r.backend, {}).setdefault(f.mode, f)
    return found


def transaction_caveat(ctx: Context) -> str:
    """Which database, and why the outcome depends on it."""
    text = (
        f"Measured on {database_text(ctx)}; the outcome depends on the database engine: whether a worker can read "
        "the uncommitted row, and how long its first query waits."
    )
    if _is_sqlite(ctx):
        text += (
            " On SQLite a worker's first query waits for the producer's write lock, so a task that started before "
            "the commit may still succeed."
        )
    return text + (
        " Without on_commit a Redis queue hands the task over at once, whatever the transaction does; on_commit "
        "enqueues only after a commit."
    )


def answer_transactions(ctx: Context) -> Answer | None:
    """Enqueue inside a transaction: ran before the commit, ran for a rolled-back row, what on_commit changed."""
    records = transaction_records(ctx)
    if not records:
        return None
    question = (
        "Enqueue inside a transaction: which backends ran the task before the commit / for a rolled-back row, and "
        "what on_commit changed?"
    )
    lines = []
    profiles = ctx.scenario_profiles("faults")
    by_profile = {profile: transactions_by_backend(ctx, profile) for profile in profiles}
    for backend in ctx.backends(records):
        if ctx.is_floor(backend):
            continue
        texts = {}
        for profile in profiles:
            modes = by_profile[profile].get(backend, {})
            parts = [f"{modes[m].mode_name()}: {modes[m].brief()}" for m in ("commit_late", "rollback") if m in modes]
            if on_commit := on_commit_text(modes):
                parts.append(on_commit)
            parts += [
                f"{r.params.get('mode', '?')}: run failed ({r.error})"
                for r in records
                if r.backend == backend and r.profile == profile and not r.ok
            ]
            if parts:
                texts[profile] = "; ".join(parts)
        lines += merge_profiles(ctx, texts, backend)
    return Answer(question, lines or [NOT_MEASURED], transaction_caveat(ctx))


def _transaction_cell(ctx: Context, backend: str, profile: str | None) -> Cell:
    """'ran before commit · rolled-back task ran', green when on_commit fixed both."""
    modes = transactions_by_backend(ctx, profile).get(backend, {}) if profile else {}
    if not modes:
        failed = any(not r.ok for r in transaction_records(ctx) if r.backend == backend)
        return Cell("failed to set up", "", NA) if failed else Cell("–")
    text = " · ".join(t for m in ("commit_late", "rollback") if m in modes and (t := modes[m].short()))
    fixed = on_commit_fixed(modes)
    if fixed is None:
        return Cell(text or "–", "on_commit not measured", NA)
    detail = "on_commit fixed both" if fixed else "on_commit did not fix it"
    return Cell(text or "–", detail, GOOD if fixed else BAD)


# --------------------------------------------------------------------------------------------------------------------
# Answers: enqueue, throughput, latency, "do I need Redis?"


def answer_enqueue(ctx: Context) -> Answer:
    """Which backend enqueues fastest: ratio to the floor first, absolute beside, test against the fastest."""
    question = "Which backend enqueues fastest?"
    ranking = enqueue_ranking(ctx)
    if ranking is None:
        return Answer(question, [NOT_MEASURED], "")
    # The quick preset leaves the pytest-benchmark run out (its time budget): mention it only when it ran.
    microbench = any(r.scenario == "enqueue_microbench" for r in ctx.results.records)
    others = ", p99 and a pytest-benchmark cross-check" if microbench else " and p99"
    return Answer(
        question,
        [_ranking_line(ctx, ranking)],
        "Producer-side cost of the enqueue call only (what a view pays per task; no worker running). × floor = the "
        "backend's p50 ÷ its floor's p50 (raw LPUSH for Redis) in the same run, repetition by repetition: it "
        "travels between machines, the absolute value does not. Tests: Welch t-test on the logarithms of the "
        f"per-repetition p50s. Other task types{others} are in the details.",
    )


def answer_throughput(ctx: Context) -> Answer:
    """Which backend gets the most tasks done per second, at the machine's core count."""
    question = "Which backend gets the most tasks done per second?"
    ranking = throughput_ranking(ctx)
    if ranking is None:
        return Answer(question, [NOT_MEASURED], "")
    cores = ctx.cores
    processes = throughput_setting(ctx)[1]["processes"]  # type: ignore[index]
    note = f" (= the machine's {cores} cores)" if processes == cores else ""
    line = _ranking_line(ctx, ranking).replace(" worker processes,", f" worker processes{note},", 1)
    measured = {r.params.get("task") for r in ctx.results.records if r.scenario == "throughput"}
    counts = {r.params.get("processes") for r in ctx.results.records if r.scenario == "throughput"}
    # The presets trim shop tasks (quick) and other process counts (both) to fit their time budget: say so.
    shop = "(details)" if measured - {"noop"} else "(the full preset measures them)"
    others = "other counts in the details" if len(counts) > 1 else "other counts not measured (--processes 1,2,4)"
    return Answer(
        question,
        [line],
        f"A noop task measures the queue's own overhead; real shop tasks {shop} are dominated by their own work. "
        "% of floor = the backend's tasks/s ÷ its floor's (raw LPUSH/BRPOP for Redis) at the same process count. "
        f"Headline at as many worker processes as the machine has cores; {others}. Workers share the {cores or '?'} "
        "cores with the broker and the harness.",
    )


def answer_latency(ctx: Context) -> Answer:
    """Which backend keeps latency lowest under load: the highest sustained rate, and why the next one failed."""
    question = "Which backend keeps latency lowest under load?"
    lines = []
    for profile in ctx.scenario_profiles("latency"):
        states = latency_states(ctx, profile)
        ranked, floors, excluded = [], [], []
        for backend, rates in states.items():
            if not rates:
                continue
            if ctx.is_floor(backend):
                floors.append(f"{ctx.label(backend)} {derived.sustainable_text(rates)}")
            elif backend in ctx.unverified:
                excluded.append(f"{ctx.label(backend)}: failed verification, not ranked")
            else:
                best = derived.max_sustainable(rates)
                ranked.append((-(best.rate if best else -1.0), best.p99 if best else 0.0, backend, rates))
        if not ranked:
            continue
        ranked.sort()
        parts = [
            f"{f'**{ctx.label(b)}**' if i == 0 else ctx.label(b)} {sustained_text(ctx, b, profile, rates)}"
            for i, (_, _, b, rates) in enumerate(ranked)
        ]
        reps = {
            len(
                [
                    r
                    for r in ctx.results.select(scenario="latency", profile=profile, backend=b)
                    if r.params.get("rate") == rates[0].rate
                ]
            )
            for _, _, b, rates in ranked
        }
        n = "/".join(map(str, sorted(reps)))
        test = (
            "1 repetition per rate: no test"
            if reps == {1}
            else f"{n} repetitions per rate, merged: sustained or not, no test"
        )
        line = f"{profile}, highest sustained offered rate on {ctx.machine} ({test}): " + "; ".join(parts + excluded)
        if floors:
            line += "; floors (not ranked): " + ", ".join(floors)
        lines.append(line)
    bound = duration_ns(ctx.bound_ns)
    return Answer(
        question,
        lines or [NOT_MEASURED],
        f"Sustained = every task sent on schedule (sent/s ≥ 90 % of offered), completions keeping up (completed/s ≥ "
        f"90 % of sent/s) and p99 from the intended send time to task start within {bound}. 'Over the latency "
        "bound' means completions kept up but p99 exceeded the bound; 'saturated' means completions fell behind the "
        "send rate. Only the preset's rates were tried: the limit lies between the reported rate and the next one "
        "(≥: even the highest rate tried was sustained).",
    )


def _statements_text(
    fig_statements: derived.Measured, fig_commits: derived.Measured, fig_conns: derived.Measured
) -> str:
    """'5.0 statements (1.0 write commit, 1.0 new connection)': medians per noop task."""

    def count(fig: derived.Measured, noun: str) -> str:
        number = derived.per_task_count(fig.median)
        return f"{number:.1f} {noun}{'' if round(number, 1) == 1.0 else 's'}"

    return (
        f"{count(fig_statements, 'statement')} ({count(fig_commits, 'write commit')}, "
        f"{count(fig_conns, 'new connection')})"
    )


def _factor_text(ratio: float | None, unit: str) -> str:
    """'×1.4' for a ratio of medians, '–' without one."""
    if ratio is None:
        return "–"
    return f"×{ratio:.2g}" if unit == "tasks/s" or ratio < 10 else f"×{ratio:.0f}"


def answer_profiles(ctx: Context) -> Answer | None:
    """What the profiles change per backend (bare library, shipped integration, tuned): enqueue p50, noop tasks/s
    and the database statements per noop task, each profile with its ratio to the floor; then what the integration
    adds (shipped over bare). A profile the backend declared the same configuration as another is said so, with the
    reason, instead of measured twice.

    None when no backend has more than one profile to show.
    """
    setting = throughput_setting(ctx)
    run_profiles = [p for p in ctx.profiles() if p in (ctx.results.run.get("profiles") or ctx.results.profiles)]
    metrics = [
        ("enqueue p50", {"task": "noop"}, FIGURES["enqueue_p50"]),
    ]
    if setting is not None:
        task = setting[1]["task"]
        metrics.append((f"`{task}` tasks/s", setting[1], FIGURES["tasks_per_s"]))
    lines = []
    counted_on = ""
    for backend in ctx.backends(ctx.results.records):
        if ctx.is_floor(backend) or backend in ctx.unverified:
            continue
        same = {p: s for p in run_profiles if (s := derived.same_profile(ctx.results, backend, p)) is not None}
        same = {p: s for p, s in same.items() if not ctx.results.select(backend=backend, profile=p)}
        measured = [p for p in run_profiles if p not in same and ctx.results.select(backend=backend, profile=p)]
        parts = [f"{p}: same as {target} — {reason}" for p, (target, reason) in same.items()]
        figures: dict[str, dict[str, derived.Measured]] = {}
        for what, params, of in metrics:
            scenario, unit, higher = of.scenario, of.unit, of.higher_is_better
            profiles = [p for p in measured if ctx.results.select(backend=backend, profile=p, scenario=scenario)]
            found = {p: derived.figure(ctx.results, backend, p, of, params) for p in profiles}
            found = {p: f for p, f in found.items() if f.values}
            figures[scenario] = found
            if len(found) + len(same) < 2 or not found:
                continue
            base = found.get("shipped")
            texts = []
            for profile, fig in found.items():
                main, absolute = figure_text(ctx, backend, fig, unit)
                text = f"{profile} {absolute or main}" + (f" ({main})" if absolute else "")
                if base is not None and profile != "shipped" and base.values:
                    text += f" [vs shipped: {derived.test_text(base.values, fig.values, higher_is_better=higher)}]"
                texts.append(text)
            parts.append(f"{what}: " + ", ".join(texts))
        counts: dict[str, tuple[derived.Measured, derived.Measured]] = {}
        db_texts = []
        for profile in measured:
            noop = {"task": "noop"}
            statements = derived.figure(ctx.results, backend, profile, FIGURES["db_statements"], noop)
            if not statements.values:
                continue
            commits = derived.figure(ctx.results, backend, profile, FIGURES["db_write_commits"], noop)
            conns = derived.figure(ctx.results, backend, profile, FIGURES["db_connections"], noop)
            counts[profile] = (statements, commits)
            db_texts.append(f"{profile} {_statements_text(statements, commits, conns)}")
            record = ctx.results.select(backend=backend, profile=profile, scenario="db_statements", status="ok")
            if record and not counted_on:
                counted_on = str(record[0].notes.get("counted_on") or "")
        if db_texts and len(db_texts) + len(same) >= 2:
            parts.append("DB statements per `noop` task: " + ", ".join(db_texts))
        if not parts or len(measured) + len(same) < 2:
            continue
        # What the integration adds on top of the library alone: shipped over bare (bare's figures are those of the
        # profile it was declared the same configuration as, e.g. django-q2's tuned; nothing when that is shipped).
        bare_as = same["bare"][0] if "bare" in same else "bare"
        added = []
        if bare_as != "shipped":
            for what, _params, of in metrics:
                found, unit = figures.get(of.scenario, {}), of.unit
                if bare_as in found and "shipped" in found:
                    ratio = derived.median_ratio(found[bare_as], found["shipped"])
                    text = f"{what} {_factor_text(ratio, unit)}"
                    # The same factor against each profile's own floor session: if the machine drifted between the
                    # sessions the two disagree, and a factor whose direction flips is not a finding.
                    relative = derived.floor_ratio_ratio(found[bare_as], found["shipped"])
                    if ratio is not None and relative is not None:
                        text += f" ({_factor_text(relative, unit)} against each one's floor"
                        text += ": direction within this run's noise)" if (ratio - 1) * (relative - 1) < 0 else ")"
                    added.append(text)
            if bare_as in counts and "shipped" in counts:
                extra = (counts["shipped"][0].median or 0.0) - (counts[bare_as][0].median or 0.0)
                extra_commits = (counts["shipped"][1].median or 0.0) - (counts[bare_as][1].median or 0.0)
                added.append(f"{extra:+.1f} statements and {extra_commits:+.1f} write commits per task")
        if added:
            measured_as = "" if bare_as == "bare" else f", bare measured as {bare_as}"
            parts.append(f"the integration (shipped over bare{measured_as}): " + ", ".join(added))
        lines.append(f"**{ctx.label(backend)}**: " + "; ".join(parts))
    if not lines:
        return None
    db_note = (
        f" DB statements are counted per noop task, enqueue and worker side together, on {counted_on}; idle "
        "pollers subtracted (details: Database statements per task)."
        if counted_on
        else ""
    )
    return Answer(
        "What does each profile change?",
        lines,
        "`bare`: the library alone, without its Django result store or admin middleware; `shipped`: as its Django "
        "integration's docs set it up; `tuned`: each library's documented performance advice. The difference "
        "between bare and shipped is what the integration costs (×: shipped's median over bare's; in brackets the same "
        "factor with each figure first divided by the floor of its own session). A profile a "
        "backend declares the same configuration as another (backend.toml) is measured once and named with the "
        "reason. Settings per profile are listed under Settings." + db_note,
    )


def answer_need_redis(ctx: Context) -> Answer | None:
    """'Do I need Redis?', from the numbers of the database-broker backends against the Redis-broker ones.

    None when the run has no database-broker backend (the question cannot be answered from it).
    """
    real = [b for b in ctx.results.backend_names if not ctx.is_floor(b) and b not in ctx.unverified]
    database = [b for b in real if derived.broker_of(ctx.results, b) == "database"]
    redis = [b for b in real if derived.broker_of(ctx.results, b) == "redis"]
    if not database or not redis:
        return None
    lines = []
    enqueue, throughput = enqueue_ranking(ctx), throughput_ranking(ctx)
    latency_profile = headline_profile(ctx, "latency")
    states = latency_states(ctx, latency_profile) if latency_profile else {}
    for backend in database:
        parts = []
        for ranking in (enqueue, throughput):
            if ranking is None:
                continue
            mine = dict(ranking.ranked).get(backend)
            theirs = [(b, f) for b, f in ranking.ranked if b in redis]
            if mine is None or not theirs:
                continue
            best_b, best = theirs[0]
            main, absolute = figure_text(ctx, backend, mine, ranking.unit)
            _, best_abs = figure_text(ctx, best_b, best, ranking.unit)
            what = "enqueue p50" if ranking.unit == "ns" else "throughput"
            test = derived.test_text(best.values, mine.values, higher_is_better=ranking.higher_is_better)
            own = main.replace("floor", "its own floor")
            parts.append(
                f"{what} {absolute or main} ({own}) vs {best_abs or '–'} for the best Redis-broker backend, "
                f"{ctx.label(best_b)} ({test})"
            )
        if states.get(backend):
            mine_rate = derived.max_sustainable(states[backend])
            redis_best = max(
                (derived.max_sustainable(states[b]) for b in redis if states.get(b)),
                key=lambda s: s.rate if s else -1.0,
                default=None,
            )
            parts.append(
                f"sustained {derived.sustainable_text(states[backend])} vs "
                f"{'≥ ' if redis_best and _is_top(states, redis, redis_best) else ''}"
                f"{f'{redis_best.rate:g} tasks/s' if redis_best else 'none'} for the best Redis-broker backend"
            )
            if mine_rate is not None:
                parts.append(
                    f"so a load up to {mine_rate.rate:g} tasks/s was served within the latency bound without Redis "
                    "in this run"
                )
        for kind, persistence in fault_kinds(ctx):
            if kind != "sigkill":
                continue
            for profile in ctx.scenario_profiles("faults"):
                outcome = next(
                    (
                        o
                        for r in _fault_records(ctx, kind, persistence, profile)
                        if r.backend == backend and (o := fault_outcome(r)) is not None
                    ),
                    None,
                )
                if outcome is not None:
                    parts.append(f"worker SIGKILL ({profile}): {outcome.verdict(short=True)}")
        lines.append(f"**{ctx.label(backend)}** (database broker, no Redis): " + "; ".join(parts or [NOT_MEASURED]))
    return Answer(
        "Do I need Redis?",
        lines,
        "Answered only from this run: database-broker backends against Redis-broker backends on the same machine "
        "and database. Below the rate a database backend sustained, the numbers above say whether its enqueue cost "
        "and fault outcomes are acceptable; above it, only a Redis broker kept up here.",
    )


def _is_top(states: dict[str, list[derived.RateState]], names: Sequence[str], best: derived.RateState) -> bool:
    return any(states.get(b) and best.rate == max(s.rate for s in states[b]) for b in names)


# --------------------------------------------------------------------------------------------------------------------
# The scorecard


def group_of(ctx: Context, backend: str) -> str:
    """'native API · Redis broker', 'django.tasks · database broker', 'floors (not ranked)', or '' when unknown."""
    if ctx.is_floor(backend):
        return "floors (raw broker loops, not ranked)"
    api, broker = derived.api_of(ctx.results, backend), derived.broker_of(ctx.results, backend)
    parts = [_API_LABELS.get(api, api) if api else "", _BROKER_LABELS.get(broker, broker) if broker else ""]
    return " · ".join(p for p in parts if p)


def _retry_cell(ctx: Context, backend: str) -> Cell:
    profile = headline_profile(ctx, "retries")
    reps = ctx.results.select(scenario="retries", backend=backend, profile=profile) if profile else []
    if not reps:
        return Cell("–")
    facts = retry_variants(reps)
    policy = [f for f in (retry_variant(facts, "flaky_retry", forever=b) for b in (False, True)) if f is not None]
    if not policy:
        return Cell("failed", "", BAD) if any(not r.ok for r in reps) else Cell("–")
    honoured = all(f.as_expected for f in policy if f.expected is not None)
    gaps = [g for f in policy for g in f.gaps_s]
    detail = f"gaps {sum(gaps) / len(gaps):.2f} s" if gaps else ""
    visible = [r.values.get("visible") for r in reps if r.ok and is_check(r) and r.params.get("task") == "flaky_retry"]
    tone = GOOD if honoured else BAD
    configured = policy[0].configured_s
    # More than 20 % off the configured delay: attempts right, timing not.
    if honoured and gaps and configured and abs(sum(gaps) / len(gaps) - configured) > 0.2 * configured:
        tone, detail = MID, f"{detail} vs {configured:g} s configured"
    if honoured and False in visible:
        tone, detail = MID, (detail + "; " if detail else "") + "exhausted failure not visible"
    return Cell("as configured" if honoured else "not as configured", detail, tone)


def _redis_down_cell(ctx: Context, backend: str) -> Cell:
    records = [r for r in ctx.results.select(scenario="faults", backend=backend) if r.params.get("kind")]
    downs = [d for r in records if (d := down_enqueue(r)) is not None]
    restarts = [o for r in records if r.params.get("kind") in BROKER_FAULTS and (o := fault_outcome(r)) is not None]
    if not downs and not restarts:
        return Cell("–")
    text, tone = [], GOOD
    if any(d.blocked for d in downs):
        text.append("enqueue blocks")
        tone = BAD
    elif downs and all(d.raised for d in downs):
        times = [d.call_s for d in downs if d.call_s is not None]
        text.append(f"raises in {duration_s(max(times))}" if times else "raises")
    elif downs and ctx.results.backends.get(backend, {}).get("broker") == "database":
        text.append("needs no Redis: enqueued")  # its queue is a table; the call succeeding is the right answer
    elif downs:
        text.append("returns, no error")
        tone = BAD
    detail = ""
    if any(o.manual_restart for o in restarts):
        detail, tone = "manual restart needed", BAD
    elif restarts:
        reconnect = [o.reconnect_s for o in restarts if o.reconnect_s is not None]
        detail = f"resumes in {duration_s(max(reconnect))}" if reconnect else "resumes"
    return Cell("; ".join(text) or "–", detail, tone)


def scorecard(ctx: Context) -> Scorecard | None:
    """Backends as rows, the report's questions as columns; None when the run measured none of them."""
    enqueue, throughput = enqueue_ranking(ctx), throughput_ranking(ctx)
    latency_profile = headline_profile(ctx, "latency")
    states = latency_states(ctx, latency_profile) if latency_profile else {}
    kinds = fault_kinds(ctx)
    # The headline profile's outcome first in each fault cell (shipped, as people run it), the others below it.
    fault_profiles = sorted(ctx.scenario_profiles("faults"), key=lambda p: p != headline_profile(ctx, "faults"))
    has_retries = bool(ctx.results.select(scenario="retries"))
    has_transactions = bool(transaction_records(ctx))
    transaction_profile = headline_profile(ctx, "faults")
    has_down = any(str(r.params.get("kind", "")).startswith("redis_") for r in ctx.results.select(scenario="faults"))
    columns: list[tuple[str, str]] = []
    if enqueue is not None:
        columns.append(
            ("Enqueue", f"{enqueue.what} ÷ the floor's in the same run (lower is better); absolute on {ctx.machine}.")
        )
    if throughput is not None:
        columns.append(
            (
                "Throughput",
                f"{throughput.what}: tasks/s as % of the floor's (higher is better); absolute tasks/s beside.",
            )
        )
    if states:
        columns.append(
            (
                "Latency under load",
                f"{latency_profile}: highest offered rate sent, completed and started within "
                f"{duration_ns(ctx.bound_ns)} p99; p99 to start at that rate (× the floor's at the same rate).",
            )
        )
    classified = any(o.classified for r in ctx.results.select(scenario="faults") if (o := fault_outcome(r)) is not None)
    fault_note = (
        "{profile} profile (library defaults): tasks gone (held nowhere after the window) of those at risk, stranded "
        "(held by the library, back later), failed (recorded as failed by the library), duplicated. Premise and "
        "window: Answers."
        if classified
        else "{profile} profile (library defaults): tasks not finished within the window of those enqueued (this "
        "results file does not classify them into stranded and gone), duplicated. Window: Answers."
    )
    fault_params = {
        (r.params.get("kind"), r.params.get("persistence")): r.params for r in ctx.results.select(scenario="faults")
    }
    for kind, persistence in kinds:
        others = fault_profiles[1:]
        note = fault_note.format(profile=fault_profiles[0] if fault_profiles else "?")
        if kind == "long_delay":
            note = (
                "Tasks scheduled further ahead than the safe profile's redelivery timeout: how many ran exactly once; "
                "a task run twice (dup) is the finding."
            )
        if others:
            note += f" Second line: the {', '.join(others)} profile (shortened timeouts: Answers)."
        columns.append((fault_short_label(kind, persistence, fault_params.get((kind, persistence))), note))
    if has_transactions:
        columns.append(
            (
                fault_short_label("transaction", None),
                f"{transaction_profile} profile: a task enqueued inside a transaction that commits late / rolls back "
                f"(on {database_text(ctx)}); green when on_commit enqueued nothing for the rollback and the late "
                "commit's task succeeded, red when it did not.",
            )
        )
    if has_retries:
        columns.append(
            ("Retries", "The shop's policy (3 retries, 1 s apart) written natively: attempts as configured?")
        )
    if has_down:
        columns.append(
            (
                "Redis down",
                "What the enqueue call does while Redis is down (raises: the view can say so; blocks: "
                "the page hangs), and whether the workers resume by themselves after a restart.",
            )
        )
    if not columns:
        return None
    rows = []
    names = [
        b
        for b in ctx.results.backend_names
        if any(r.ok or r.status == "unverified" for r in ctx.results.select(backend=b))
    ]
    names = ctx.backends([r for r in ctx.results.records if r.backend in names]) + [
        b for b in ctx.unverified if b not in names
    ]
    for backend in names:
        floor = ctx.is_floor(backend)
        cells: list[Cell] = []
        unverified = backend in ctx.unverified
        for ranking in (enqueue, throughput):
            if ranking is None:
                continue
            fig = dict(ranking.ranked).get(backend) or ranking.floors.get(backend)
            if unverified:
                cells.append(Cell("failed verification", "", BAD))
            elif fig is None:
                cells.append(Cell("–"))
            elif floor:
                cells.append(Cell(_absolute(fig.median, ranking.unit), "floor", NA))
            else:
                main, absolute = figure_text(ctx, backend, fig, ranking.unit)
                cells.append(Cell(main, absolute, ranking.tone(fig)))
        if states:
            cells.append(_latency_cell(ctx, backend, latency_profile or "", states, unverified))
        for kind, persistence in kinds:
            cells.append(_fault_cell(ctx, backend, kind, persistence, fault_profiles, floor, unverified))
        if has_transactions:
            cells.append(Cell("–") if floor else _transaction_cell(ctx, backend, transaction_profile))
        if has_retries:
            cells.append(Cell("–") if floor else _retry_cell(ctx, backend))
        if has_down:
            cells.append(Cell("–") if floor else _redis_down_cell(ctx, backend))
        rows.append(ScoreRow(ctx.label(backend), cells, group_of(ctx, backend), floor))
    if any(r.group for r in rows if not r.floor):
        for r in rows:
            r.group = r.group or "other backends"
    # Stable: backends keep their order within a group; floors, then backends without a group (failed), last.
    rows.sort(key=lambda r: (r.floor, r.group == "other backends", _group_order(r.group)))
    legend = (
        f"{thresholds_legend()}, a task gone (older results files: not finished within the window, not classified), a "
        "blocking enqueue, retries not as configured, a task scheduled past the redelivery timeout run twice. Faults: "
        "amber when tasks are only stranded, failed (recorded by the library) or duplicated; in a transaction: green "
        "when on_commit enqueued nothing for a rollback and the late commit's task succeeded; retries: amber when gaps "
        "are more than 20 % off or the exhausted failure is not visible. Grey: floor, not measured, or premise not met "
        "(never ranked)."
    )
    card = Scorecard(columns, rows, legend, network=network_line(ctx.results))
    card.figure = charts.scorecard([c[0] for c in columns], rows, ctx.caption)
    return card


def _group_order(group: str) -> str:
    """Native before django.tasks, Redis before database (alphabetical would do the opposite)."""
    return group.replace("native", "0").replace("Redis", "0")


def _latency_cell(
    ctx: Context, backend: str, profile: str, states: dict[str, list[derived.RateState]], unverified: bool
) -> Cell:
    rates = states.get(backend) or []
    if unverified:
        return Cell("failed verification", "", BAD)
    if not rates:
        return Cell("–")
    best = derived.max_sustainable(rates)
    text = derived.sustainable_text(rates).replace(" tasks/s", "/s")
    if ctx.is_floor(backend):
        return Cell(text, "floor", NA)
    detail = ""
    if best is not None:
        ratio = _p99_ratio(ctx, backend, profile, best)
        detail = f"p99 {duration_ns(best.p99)}" + (f", {ratio_text(ratio)} floor" if ratio else "")
    else:
        lowest = min(rates, key=lambda s: s.rate)
        detail = f"p99 {duration_ns(lowest.p99)} at {lowest.rate:g}/s"
    tops = [
        derived.max_sustainable(s) for b, s in states.items() if s and not ctx.is_floor(b) and b not in ctx.unverified
    ]
    top = max((t.rate for t in tops if t is not None), default=None)
    factor = (top / best.rate) if best is not None and top else None
    return Cell(text, detail, tone_by_factor(factor) if best is not None else BAD)


def _fault_cell(
    ctx: Context,
    backend: str,
    kind: str,
    persistence: str | None,
    profiles: Sequence[str],
    floor: bool,
    unverified: bool,
) -> Cell:
    if floor:
        return Cell("–")
    lines, tone = [], NA
    for i, profile in enumerate(profiles):
        record = next((r for r in _fault_records(ctx, kind, persistence, profile) if r.backend == backend), None)
        if record is None:
            continue
        prefix = "" if i == 0 else f"{profile}: "
        outcome = fault_outcome(record)
        if premise_not_met(record) is not None:
            text, this_tone = "premise not met", NA
        elif outcome is None:
            text, this_tone = "failed to set up" if not record.ok else "–", NA
        else:
            text, this_tone = fault_cell_text(outcome), fault_tone(outcome)
        lines.append(prefix + text)
        if i == 0:
            tone = this_tone
    if unverified and lines:
        tone = NA
    if not lines:
        return Cell("–")
    return Cell(lines[0], "; ".join(lines[1:]), tone)


__all__ = [
    "answer_enqueue",
    "answer_faults",
    "answer_latency",
    "answer_need_redis",
    "answer_throughput",
    "answer_transactions",
    "scorecard",
]
