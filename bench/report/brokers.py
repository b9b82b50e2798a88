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
from bench.report.facts import OUTCOME_WORDS, fault_outcome, premise_not_met
from bench.report.figures import FIGURES
from bench.report.model import Answer
from bench.report.numbers import ratio_text
from bench.report.sections import network
from bench.results import RunResults

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


def _outcomes(ctx: Context, backend: str, kinds: Sequence[tuple[str, str | None]]) -> str:
    """'shipped: gone 2 of 18 at risk, 12 stranded · safe: gone 0 of 18 at risk' for each fault of ``kinds`` (its
    short label first when there are several, as Redis's restart without and with AOF); '' when none was run."""
    found = []
    for kind, persistence in kinds:
        parts = []
        for profile in ctx.scenario_profiles("faults"):
            for record in ctx.results.select(backend=backend, profile=profile, scenario="faults"):
                params = record.params
                if params.get("kind") != kind or params.get("persistence") != persistence:
                    continue
                outcome = fault_outcome(record)
                if outcome is None:
                    why = premise_not_met(record)
                    parts.append(f"{profile}: " + ("premise not met" if why else f"failed ({record.error})"))
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
