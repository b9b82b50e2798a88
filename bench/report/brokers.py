"""'Redis or RabbitMQ?': one library's backends on two brokers, side by side.

The same project runs on Redis and on RabbitMQ (``[brokers.rabbitmq]`` in its backend.toml: ``celery`` and
``celery-rabbitmq``, ``dramatiq`` and ``dramatiq-rabbitmq``). Each figure is given on both brokers as its ratio to that
broker's own floor (the Redis loop, the AMQP publish/consume loop) with the absolute value beside it, at every
network the run measured, with the round trips the delay proxy counted and the fault outcomes of each. The report's
Answer (:func:`answer`) and the README's ``brokers`` region (:func:`broker_lines`) say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.report import derived
from bench.report.answers import figure_text, headline_profile
from bench.report.context import Context, make_context, param_values
from bench.report.facts import (
    FAULT_KIND_LABELS,
    OUTCOME_WORDS,
    FaultOutcome,
    down_enqueue,
    fault_outcome,
    premise_not_met,
)
from bench.report.figures import FIGURES, NEAR_BEST
from bench.report.model import Answer
from bench.report.numbers import due_text, ratio_text, seconds_text
from bench.report.sections import network
from bench.results import Record, RunResults

#: The report's Answer and the README's question.
QUESTION = "Redis or RabbitMQ?"
#: Brokers compared, the first one the reference (``RabbitMQ ÷ Redis``).
BROKERS = ("redis", "rabbitmq")
BROKER_NAMES = {"redis": "Redis", "rabbitmq": "RabbitMQ"}


def project_of(results: RunResults, backend: str) -> str:
    """The project a backend runs (``celery`` for ``celery`` and ``celery-rabbitmq``): recorded as ``project`` by
    runs since it was added, else the name without its ``-<broker>`` suffix (how backend.toml names broker variants)."""
    info = derived.description(results, backend)
    if info.get("project"):
        return str(info["project"])
    broker = derived.broker_of(results, backend)
    return backend.removesuffix(f"-{broker}") if broker else backend


def broker_pairs(results: RunResults) -> list[dict[str, str]]:
    """{broker: backend} for each project measured on Redis and on RabbitMQ (floors and unverified ones left out)."""
    ctx = make_context(results)
    by_project: dict[str, dict[str, str]] = {}
    for backend in results.backend_names:
        broker = derived.broker_of(results, backend)
        if ctx.is_floor(backend) or backend in ctx.unverified or broker not in BROKERS:
            continue
        by_project.setdefault(project_of(results, backend), {})[broker] = backend
    return [pair for pair in by_project.values() if set(BROKERS) <= set(pair)]


def _figure_pair(
    ctx: Context, pair: dict[str, str], profile: str, key: str, params: dict[str, object], network: str
) -> str | None:
    """'enqueue p50 590 µs (8.4× its floor) on RabbitMQ vs 650 µs (9.4× its floor) on Redis: RabbitMQ ÷ Redis 0.91×'."""
    figure = FIGURES[key]
    found = {b: derived.figure(ctx.results, pair[b], profile, figure, params, network) for b in BROKERS}
    if not all(f.values for f in found.values()):
        return None

    def text(broker: str) -> str:
        main, absolute = figure_text(ctx, pair[broker], found[broker], figure.unit)
        return f"{absolute} ({main.replace('floor', 'its floor')})" if absolute else main

    mq, redis = found["rabbitmq"].median, found["redis"].median
    what = "noop throughput" if figure.unit == "tasks/s" else "enqueue p50"
    versus = f": RabbitMQ ÷ Redis {ratio_text(mq / redis)}" if mq and redis else ""
    return f"{what} {text('rabbitmq')} on RabbitMQ vs {text('redis')} on Redis{versus}"


def _round_trips(results: RunResults, backend: str, profile: str) -> str | None:
    """'0 per enqueue, 1.9 per task': round trips to the broker (Redis or RabbitMQ), as the delay proxy counted
    them (medians over the proxied networks)."""
    records = results.select(scenario="round_trips")
    counted = {p: network.round_trips_of(records, backend, profile, p, ("redis", "amqp")) for p in ("enqueue", "task")}
    found = [f"{value:.2g} per {phase}" for phase, value in counted.items() if value is not None]
    return ", ".join(found) or None


#: The faults compared on the two brokers: (what, {broker: [(kind, persistence)]}).
FAULTS_COMPARED = (
    ("worker SIGKILL", {"redis": [("sigkill", None)], "rabbitmq": [("sigkill", None)]}),
    ("worker SIGTERM", {"redis": [("sigterm", None)], "rabbitmq": [("sigterm", None)]}),
    (
        "broker restart",
        {"redis": [("redis_restart", "none"), ("redis_restart", "aof")], "rabbitmq": [("rabbitmq_restart", None)]},
    ),
    ("broker crash", {"redis": [("redis_crash", "aof")], "rabbitmq": [("rabbitmq_crash", None)]}),
)


#: How a Redis restart's persistence mode is said when both were run.
PERSISTENCE_WORDS = {"none": "without persistence", "aof": "with AOF"}


def _fault_records(ctx: Context, backend: str, profile: str, kind: str, persistence: str | None) -> list[Record]:
    """The fault records of ``backend`` in ``profile`` of one kind (and Redis persistence mode, None for the rest)."""
    records = ctx.results.select(backend=backend, profile=profile, scenario="faults", params={"kind": kind})
    return [r for r in records if r.params.get("persistence") == persistence]


def _unmeasured(record: Record) -> str:
    """What a fault record without outcomes says instead: its premise did not hold, or it failed (and why)."""
    return "premise not met" if premise_not_met(record) else f"failed ({record.error})"


def _outcomes(ctx: Context, backend: str, kinds: Sequence[tuple[str, str | None]]) -> str:
    """'shipped: gone 2 of 18 at risk, 12 stranded · safe: gone 0 of 18 at risk' for each fault of ``kinds`` (its
    short label first when there are several, as Redis's restart without and with AOF); '' when none was run."""
    found = []
    for kind, persistence in kinds:
        parts = []
        for profile in ctx.scenario_profiles("faults"):
            for record in _fault_records(ctx, backend, profile, kind, persistence):
                outcome = fault_outcome(record)
                if outcome is None:
                    parts.append(f"{profile}: {_unmeasured(record)}")
                    continue
                counts = [f"{outcome.count(o)} {OUTCOME_WORDS[o]}" for o in ("stranded", "failed", "duplicated")]
                text = ", ".join([f"gone {outcome.gone} of {outcome.risk_text()}", *(c for c in counts if c[0] != "0")])
                parts.append(f"{profile}: {text}")
        if parts:
            label = f"({PERSISTENCE_WORDS.get(str(persistence), persistence)}) " if len(kinds) > 1 else ""
            found.append(label + " · ".join(parts))
    return "; ".join(found)


def _published(ctx: Context, backend: str) -> str:
    """'shipped: 120 calls, 14 raised, of the 106 that returned 0 gone · safe: …' (publishing while the node
    restarts); '' when not run."""
    parts = []
    for profile in ctx.scenario_profiles("faults"):
        for record in ctx.results.select(
            backend=backend, profile=profile, scenario="faults", params={"kind": "publish_during_restart"}
        ):
            if not record.ok:
                parts.append(f"{profile}: failed ({record.error})")
                continue
            v = record.values
            gone = int(v.get("gone") or 0)
            lost = f"**{gone} lost silently**" if gone else "none lost"
            held = int(v.get("stranded") or 0)
            parts.append(
                f"{profile}: {v.get('calls')} calls, {v.get('raised')} raised; of the {v.get('accepted')} that "
                f"returned, {lost}" + (f", {held} still held" if held else "")
            )
    return " · ".join(parts)


def fault_parts(ctx: Context, pair: dict[str, str]) -> list[str]:
    """The fault outcomes of one library on each broker (:data:`FAULTS_COMPARED`, then publishing while RabbitMQ
    restarts), for a run that ran faults; a backend that does not run them says why (its ``not_run``)."""
    if not ctx.results.select(scenario="faults"):
        return []
    missing = {}
    for b in BROKERS:
        reason = (derived.description(ctx.results, pair[b]).get("not_run") or {}).get("faults")
        missing[b] = f"not measured ({reason})" if reason else "not in this run"
    parts = []
    for what, kinds in FAULTS_COMPARED:
        texts = {b: _outcomes(ctx, pair[b], kinds[b]) for b in BROKERS}
        if any(texts.values()):
            parts.append(
                f"{what} " + ", ".join(f"on {BROKER_NAMES[b]} {texts[b] or missing[b]}" for b in reversed(BROKERS))
            )
    published = _published(ctx, pair["rabbitmq"])
    if published:
        parts.append(f"enqueue calls while RabbitMQ restarts: {published}")
    return parts


def broker_lines(results: RunResults) -> list[str]:
    """One line per library measured on both brokers: enqueue p50 and noop throughput per network (each as a ratio
    to that broker's own floor, absolute beside), round trips per enqueue and per task, and the worker-SIGKILL
    outcome on each broker. Empty when no library was measured on both."""
    ctx = make_context(results)
    profile = headline_profile(ctx, "enqueue")
    processes = derived.headline_processes(
        results, param_values(results.select(scenario="throughput", profile=profile), "processes")
    )
    lines = []
    for pair in broker_pairs(results):
        parts = []
        for name in results.networks if profile is not None else ():
            at = make_context(results.at_network(name))
            setting = network.throughput_params(at.results, profile, "noop", processes)
            figures = [
                _figure_pair(at, pair, profile, "enqueue_p50", {"task": "noop"}, name),
                _figure_pair(at, pair, profile, "tasks_per_s", setting, name),
            ]
            found = [f for f in figures if f]
            if found:
                parts.append(f"at {name}: " + "; ".join(found))
        trips = {b: _round_trips(results, pair[b], profile) for b in BROKERS} if profile is not None else {}
        if trips and all(trips.values()):
            parts.append(f"broker round trips {trips['rabbitmq']} on RabbitMQ vs {trips['redis']} on Redis")
        parts += fault_parts(ctx, pair)
        if parts:
            name = ctx.label(pair["redis"])
            lines.append(f"**{name}**" + (f" ({profile})" if profile else "") + " — " + "; ".join(parts))
    return lines


def _side(ratio: float, lower_is_better: bool) -> str:
    """Which broker a RabbitMQ ÷ Redis ratio favours: 'RabbitMQ', 'Redis' or 'tie' (within :data:`NEAR_BEST`)."""
    if 1 / NEAR_BEST <= ratio <= NEAR_BEST:
        return "tie"
    return "RabbitMQ" if (ratio < 1) == lower_is_better else "Redis"


def _verdict(what: str, ratios: dict[str, float], lower_is_better: bool) -> str:
    """'enqueue p50: a tie at loopback; faster on RabbitMQ at lan (0.33×), az (0.12×)'."""
    if not ratios:
        return ""
    better = "faster" if lower_is_better else "higher"
    by_side: dict[str, list[str]] = {}
    for name, ratio in ratios.items():
        side = _side(ratio, lower_is_better)
        by_side.setdefault(side, []).append(name if side == "tie" else f"{name} ({ratio_text(ratio)})")
    if set(by_side) == {"tie"}:
        return f"{what}: within {NEAR_BEST:g}× on both brokers at every network"
    parts = []
    for side in ("RabbitMQ", "Redis", "tie"):
        if side in by_side:
            head = f"within {NEAR_BEST:g}×" if side == "tie" else f"{better} on {side}"
            parts.append(f"{head} at {', '.join(by_side[side])}")
    return f"{what}: " + "; ".join(parts)


def figure_table(results: RunResults) -> tuple[list[str], list[str], list[list[str]]]:
    """The README's performance view: a line per library (where each figure favours a broker, RabbitMQ ÷ Redis in
    brackets, and the broker round trips that explain it) and a table, a row per library and network, each figure
    on each broker with its ratio to that broker's own floor. Empty when no library was measured on both."""
    ctx = make_context(results)
    profile = headline_profile(ctx, "enqueue")
    pairs = broker_pairs(results)
    if profile is None or not pairs:
        return [], [], []
    processes = derived.headline_processes(
        results, param_values(results.select(scenario="throughput", profile=profile), "processes")
    )
    header = ["library", "network", "enqueue p50 on Redis", "on RabbitMQ", "tasks/s on Redis", "on RabbitMQ"]
    lines, rows = [], []
    for pair in pairs:
        ratios: dict[str, dict[str, float]] = {"enqueue_p50": {}, "tasks_per_s": {}}
        for name in results.networks:
            at = make_context(results.at_network(name))
            settings = {
                "enqueue_p50": {"task": "noop"},
                "tasks_per_s": network.throughput_params(at.results, profile, "noop", processes),
            }
            row = [ctx.label(pair["redis"]), name]
            for key, params in settings.items():
                found = {b: derived.figure(at.results, pair[b], profile, FIGURES[key], params, name) for b in BROKERS}
                for b in BROKERS:
                    main, absolute = figure_text(at, pair[b], found[b], FIGURES[key].unit)
                    if not found[b].values:
                        row.append("–")
                    else:
                        row.append(f"{absolute} ({main})" if absolute else main)
                mq, redis = found["rabbitmq"].median, found["redis"].median
                if mq and redis:
                    ratios[key][name] = mq / redis
            rows.append(row)
        trips = {b: _round_trips(results, pair[b], profile) for b in BROKERS}
        verdicts = [
            _verdict("enqueue p50", ratios["enqueue_p50"], lower_is_better=True),
            _verdict("noop tasks/s", ratios["tasks_per_s"], lower_is_better=False),
        ]
        line = f"**{ctx.label(pair['redis'])}** ({profile}; RabbitMQ ÷ Redis in brackets) — " + "; ".join(
            v for v in verdicts if v
        )
        if all(trips.values()):
            line += f". Broker round trips: {trips['rabbitmq']} on RabbitMQ vs {trips['redis']} on Redis"
        lines.append(line + ".")
    return lines, header, rows


#: Rows of :func:`fault_table` after the compared faults: (what, {broker: kind}); a broker without the kind gets '–'.
MORE_FAULTS = (
    (
        "task scheduled {delay} ahead (safe: past its shortened redelivery timeout)",
        {"redis": "long_delay", "rabbitmq": "long_delay"},
    ),
    ("broker down at enqueue", {"redis": "redis_down_enqueue", "rabbitmq": "rabbitmq_down_enqueue"}),
    ("a task longer than RabbitMQ's consumer_timeout (shortened to 10 s)", {"rabbitmq": "long_task"}),
)


def _compact(outcome: FaultOutcome) -> str:
    """A table cell's outcome: 'gone 2/30, 14 stranded (due in ~3,582 s)', 'gone 0/30, 2 duplicated'; the rules
    behind each 'due' are in the report."""
    if outcome.kind == "long_delay":
        parts = [f"{outcome.completed}/{outcome.tasks} ran once"]
        if outcome.duplicated:
            parts.append(f"**{outcome.duplicated} ran more than once**")
        parts += [f"{outcome.count(o)} {o}" for o in ("stranded", "failed", "gone") if outcome.count(o)]
        return ", ".join(parts)
    parts = [f"gone {outcome.gone}/{outcome.at_risk if outcome.at_risk is not None else outcome.tasks}"]
    for name in ("stranded", "failed", "duplicated"):
        if outcome.count(name):
            text = f"{outcome.count(name)} {name}"
            if name == "stranded" and outcome.stranded_due_s is not None:
                text += f" ({due_text(*outcome.stranded_due_s)})"
            parts.append(text)
    eventually = outcome.eventually_text()
    return ", ".join(parts) + (f"; {eventually}" if eventually else "")


def _cell(ctx: Context, backend: str, kinds: Sequence[tuple[str, str | None]]) -> str:
    """One backend's outcome of one fault row, per fault profile ('shipped: gone 1/18 · safe: …')."""
    parts = []
    for profile in ctx.scenario_profiles("faults"):
        for kind, persistence in kinds:
            label = profile + (f", {PERSISTENCE_WORDS.get(str(persistence), persistence)}" if len(kinds) > 1 else "")
            for record in _fault_records(ctx, backend, profile, kind, persistence):
                down, outcome = down_enqueue(record), fault_outcome(record)
                text = down.call_text() if down else _compact(outcome) if outcome else _unmeasured(record)
                parts.append(f"{label}: {text}")
    return " · ".join(parts) or "–"


def fault_table(results: RunResults) -> tuple[list[str], list[list[str]]]:
    """The README's fault view: a row per fault (:data:`FAULTS_COMPARED`, publishing through a RabbitMQ restart, the
    faults of one broker), a column per backend of each library measured on both brokers; empty without faults."""
    ctx = make_context(results)
    pairs = broker_pairs(results)
    if not pairs or not results.select(scenario="faults"):
        return [], []
    columns = [pair[b] for pair in pairs for b in BROKERS]
    # The Redis backend's label has no broker in it ("Celery"): the column says it.
    header = ["fault", *(ctx.label(p[b]) + (" · Redis" if b == "redis" else "") for p in pairs for b in BROKERS)]
    rows = []
    for what, kinds in FAULTS_COMPARED:
        rows.append([what, *(_cell(ctx, b, kinds[derived.broker_of(results, b)]) for b in columns)])
    rows.append(
        [FAULT_KIND_LABELS["publish_during_restart"]]
        + [_published(ctx, b) or "–" if derived.broker_of(results, b) == "rabbitmq" else "–" for b in columns]
    )
    for what, kind_of in MORE_FAULTS:
        cells = [_cell(ctx, b, [(kind_of[derived.broker_of(results, b)], None)]) if derived.broker_of(results, b)
                 in kind_of else "–" for b in columns]  # fmt: skip
        if "{delay}" in what:
            delays = {r.params.get("delay_s") for r in results.select(scenario="faults", params={"kind": "long_delay"})}
            what = what.format(delay=seconds_text(delays.pop()) if len(delays) == 1 else "far")
        rows.append([what, *cells])
    return header, [row for row in rows if any(cell != "–" for cell in row[1:])]


def answer(ctx: Context) -> Answer | None:
    """The report's Answer 'Redis or RabbitMQ?'; None when no library was measured on both brokers."""
    lines = broker_lines(ctx.results)
    if not lines:
        return None
    return Answer(
        QUESTION,
        lines,
        "The same project, tasks and worker command on each broker (the broker chosen by SHOP_BROKER); each figure "
        "as a ratio to that broker's own floor (Redis: LPUSH/BRPOP; RabbitMQ: publish/consume with manual ack, "
        "pika), measured in the same run, with the absolute value beside it and RabbitMQ ÷ Redis of the absolute "
        "values. Broker round trips are the delay proxy's counts (the round_trips scenario, on a proxied network): "
        "an enqueue or a task pays each of them once per network round trip.",
    )


__all__: Sequence[str] = ("QUESTION", "answer", "broker_lines", "broker_pairs", "project_of")
