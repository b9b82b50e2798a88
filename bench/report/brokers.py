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
from bench.report.facts import OUTCOME_WORDS, fault_outcome
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


def _faults(ctx: Context, backend: str) -> str:
    """'shipped: gone 2 of 18 at risk, 12 stranded · safe: gone 0 of 18 at risk' (worker SIGKILL per fault profile),
    'not measured (why)' when the backend does not run faults, '' when this run did not run them."""
    parts = []
    for profile in ctx.scenario_profiles("faults"):
        for record in ctx.results.select(backend=backend, profile=profile, scenario="faults"):
            if record.params.get("kind") != "sigkill" or (outcome := fault_outcome(record)) is None:
                continue
            counts = [f"{outcome.count(o)} {OUTCOME_WORDS[o]}" for o in ("stranded", "failed", "duplicated")]
            text = ", ".join([f"gone {outcome.gone} of {outcome.risk_text()}", *(c for c in counts if c[0] != "0")])
            parts.append(f"{profile}: {text}")
    if parts:
        return " · ".join(parts)
    reason = (derived.description(ctx.results, backend).get("not_run") or {}).get("faults")
    return f"not measured ({reason})" if reason else ""


def broker_lines(results: RunResults) -> list[str]:
    """One line per library measured on both brokers: enqueue p50 and noop throughput per network (each as a ratio
    to that broker's own floor, absolute beside), round trips per enqueue and per task, and the worker-SIGKILL
    outcome on each broker. Empty when no library was measured on both."""
    ctx = make_context(results)
    profile = headline_profile(ctx, "enqueue")
    if profile is None:
        return []
    processes = derived.headline_processes(
        results, param_values(results.select(scenario="throughput", profile=profile), "processes")
    )
    lines = []
    for pair in broker_pairs(results):
        parts = []
        for name in results.networks:
            at = make_context(results.at_network(name))
            setting = network.throughput_params(at.results, profile, "noop", processes)
            figures = [
                _figure_pair(at, pair, profile, "enqueue_p50", {"task": "noop"}, name),
                _figure_pair(at, pair, profile, "tasks_per_s", setting, name),
            ]
            found = [f for f in figures if f]
            if found:
                parts.append(f"at {name}: " + "; ".join(found))
        trips = {b: _round_trips(results, pair[b], profile) for b in BROKERS}
        if all(trips.values()):
            parts.append(f"broker round trips {trips['rabbitmq']} on RabbitMQ vs {trips['redis']} on Redis")
        killed = {b: _faults(ctx, pair[b]) for b in BROKERS}
        if killed["redis"] or killed["rabbitmq"]:
            parts.append(
                "worker SIGKILL "
                + ", ".join(f"on {BROKER_NAMES[b]} {killed[b] or 'not in this run'}" for b in reversed(BROKERS))
            )
        name = ctx.label(pair["redis"])
        lines.append(f"**{name}** ({profile}) — " + "; ".join(parts))
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
