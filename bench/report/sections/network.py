"""Round trips per enqueue and per task (the ``round_trips`` scenario) and, for a run at several networks, the
"Sensitivity to the network" section: each backend's enqueue p50 and noop / shop-task throughput per network,
absolute and as a ratio to its floor at that network, the round trips that explain the difference, one chart; and the
Answer saying where the ranking changes between loopback and the run's highest round trip (:func:`answers`).
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from bench.report import answers as opening
from bench.report import charts, derived, figures
from bench.report.compare import RankingComparison
from bench.report.context import SENSITIVITY_TITLE, Context, failure_note, make_context, param_values
from bench.report.figures import FIGURES, NEAR_BEST
from bench.report.model import Answer, Block, Chart, Heading, Paragraph, Table
from bench.report.numbers import duration_ns, rate_text, ratio_text
from bench.results import Record, RunResults

#: The section's heading in the report's Details.
TITLE = "Round trips per enqueue and per task"
#: The shop task whose throughput the comparison shows beside noop (it talks to the SMTP hop).
SHOP_TASK = "send_invoice_email"
#: Upstreams whose round trips the proxy counts, and their names in tables and sentences.
UPSTREAMS = ("redis", "postgres", "amqp")
UPSTREAM_NAMES = {"redis": "Redis", "postgres": "PostgreSQL", "amqp": "RabbitMQ"}


def _median(records: Sequence[Record], key: str) -> float | None:
    values = [r.values[key] for r in records if r.ok and isinstance(r.values.get(key), int | float)]
    return statistics.median(values) if values else None


def _count(value: float | None) -> str:
    return "–" if value is None else f"{value:.2g}" if value < 10 else f"{value:.0f}"


def counted_upstreams(records: Sequence[Record]) -> list[str]:
    """The upstreams some record counted turns for (an older run has no RabbitMQ column)."""
    return [u for u in UPSTREAMS if any(f"enqueue_{u}" in r.values for r in records)]


def round_trip_rows(ctx: Context, records: Sequence[Record]) -> list[list[str]]:
    """One row per backend, profile and network: turns per enqueue and per task to each counted upstream."""
    upstreams = counted_upstreams(records)
    rows = []
    networks = list(dict.fromkeys(r.network_name for r in records))
    profiles = list(dict.fromkeys(r.profile for r in records))
    for network in networks:
        for profile in profiles:
            for backend in ctx.backends([r for r in records if r.profile == profile]):
                mine = [r for r in records if (r.backend, r.profile, r.network_name) == (backend, profile, network)]
                if not any(r.ok for r in mine):
                    continue
                cells = [_count(_median(mine, f"{phase}_{u}")) for phase in ("enqueue", "task") for u in upstreams]
                idle = " / ".join(_count(_median(mine, f"idle_{u}_per_s")) for u in upstreams)
                rows.append([ctx.label(backend), profile, network, *cells, idle])
    return rows


def round_trip_sentence(ctx: Context, records: Sequence[Record], backend: str, profile: str) -> str | None:
    """'Celery shipped: 1 round trip per enqueue, 3 per task to Redis, 7 to PostgreSQL' (medians over networks)."""
    mine = [r for r in records if r.backend == backend and r.profile == profile and r.ok]
    if not mine:
        return None
    enqueue = [(u, _median(mine, f"enqueue_{u}")) for u in UPSTREAMS]
    task = [(u, _median(mine, f"task_{u}")) for u in UPSTREAMS]
    enq = ", ".join(f"{_count(v)} to {UPSTREAM_NAMES[u]}" for u, v in enqueue if v)
    per_task = ", ".join(f"{_count(v)} to {UPSTREAM_NAMES[u]}" for u, v in task if v)
    return f"{ctx.label(backend)} {profile}: per enqueue {enq or '0'}; per task {per_task or '0'}"


def details(ctx: Context, records: Sequence[Record]) -> list[Block]:
    """The round_trips records: a table, one sentence per backend."""
    rows = round_trip_rows(ctx, records)
    names = [UPSTREAM_NAMES[u] for u in counted_upstreams(records)]
    sentences = [
        s
        for profile in dict.fromkeys(r.profile for r in records)
        for backend in ctx.backends(records)
        if (s := round_trip_sentence(ctx, records, backend, profile)) is not None
    ]
    return [
        Table(
            [
                "backend",
                "profile",
                "network",
                *(f"per enqueue: {n}" if i == 0 else n for i, n in enumerate(names)),
                *(f"per task: {n}" if i == 0 else n for i, n in enumerate(names)),
                f"idle turns/s ({' / '.join(names)})",
            ],
            rows,
            "Request→response turns counted by the delay proxy (a turn: client bytes, then server bytes; pipelined "
            "commands are one). Per task: the idle workers' background turns over the same time subtracted. Each "
            "turn costs one round trip: at 2 ms, 10 turns per task cap a worker process at ~50 tasks/s.",
        ),
        *([Paragraph("; ".join(sentences) + ".")] if sentences else []),
        *failure_note(ctx, records),
    ]


def _figures(results: RunResults, backend: str, profile: str, processes: int | None) -> dict[str, derived.Measured]:
    """Enqueue p50 (noop) and noop / shop-task throughput of one backend at one network, with floor ratios."""
    found = {"enqueue": derived.figure(results, backend, profile, FIGURES["enqueue_p50"], {"task": "noop"})}
    for task in ("noop", SHOP_TASK):
        params: dict[str, Any] = {"task": task, "processes": processes}
        found[task] = derived.figure(results, backend, profile, FIGURES["tasks_per_s"], params)
    return found


def _cell(figure: derived.Measured, kind: str) -> str:
    if not figure.values:
        return "–"
    value = statistics.median(figure.values)
    text = duration_ns(value) if kind == "enqueue" else rate_text(value, "").strip()
    if figure.ratio is not None:
        text += f" ({ratio_text(figure.ratio)})" if kind == "enqueue" else f" ({figure.ratio * 100:.2g} %)"
    return text


def _measured(results: RunResults, network: str) -> str:
    """'Redis +2.01 ms, PostgreSQL +1.98 ms (p50)': what the sessions at ``network`` measured the proxy adding."""
    added: dict[str, list[float]] = {}
    premise_failed = 0
    for r in results.select(network=network):
        measured = r.network.get("measured")
        if isinstance(measured, Mapping):
            for upstream, values in measured.items():
                if isinstance(values, Mapping) and isinstance(values.get("added_p50_us"), int | float):
                    added.setdefault(upstream, []).append(values["added_p50_us"])
        # Only a proxied session's premise is about the network (a fault record's is about its fault).
        premise_failed += r.status == "premise_not_met" and bool(r.network.get("proxied"))
    text = ", ".join(f"{UPSTREAM_NAMES.get(u, u)} +{statistics.median(v) / 1e3:.2f} ms" for u, v in added.items())
    if premise_failed:
        text += f"; {premise_failed} record(s) premise not met (RTT off by > 25 %), not ranked"
    return text or "nothing measured"


def sensitivity(results: RunResults) -> list[Block]:
    """The comparison across networks; nothing for a run at one network."""
    networks = results.networks
    if len(networks) < 2:
        return []
    ctx = make_context(results)
    per_network = {n: results.at_network(n) for n in networks}
    nominal = {n: _nominal(per_network[n]) for n in networks}
    blocks: list[Block] = [
        Heading(2, SENSITIVITY_TITLE),
        Paragraph(
            "The same sessions at each network: every connection of producer, workers and floors to Redis, "
            "PostgreSQL, RabbitMQ and the SMTP sink went through the delay proxy (except `loopback`: direct). "
            "Measured round trip the proxy added (raw PING / SELECT 1 / basic.qos loop, p50): "
            + "; ".join(f"**{n}** ({_network_text(results, n)})" for n in networks)
            + ". Ratios are to the floor measured at the same network."
        ),
    ]
    throughput_processes = sorted(
        {r.params["processes"] for r in results.records if r.scenario == "throughput" and "processes" in r.params}
    )
    processes = derived.headline_processes(results, throughput_processes)
    rows = []
    series: dict[str, list[tuple[float, float]]] = {}
    for backend in results.backend_names:
        for profile in results.profiles:
            figures = {n: _figures(per_network[n], backend, profile, processes) for n in networks}
            if not any(f.values for fs in figures.values() for f in fs.values()):
                continue
            for kind, label in (("enqueue", "enqueue p50 (noop)"), ("noop", "noop tasks/s"), (SHOP_TASK, "shop")):
                if not any(figures[n][kind].values for n in networks):
                    continue
                rows.append([ctx.label(backend), profile, label, *[_cell(figures[n][kind], kind) for n in networks]])
            points = [
                (nominal[n]["rtt_ms"], statistics.median(figures[n]["noop"].values))
                for n in networks
                if figures[n]["noop"].values
            ]
            if len(points) > 1:
                series[f"{ctx.label(backend)} {profile}"] = points
    blocks.append(
        Table(
            ["backend", "profile", "figure", *networks],
            rows,
            f"Enqueue p50 (× floor) and tasks/s at {processes} worker processes (% of the floor) per network; "
            f"shop = {SHOP_TASK}, which talks to the SMTP hop. Medians over repetitions.",
        )
    )
    round_trips = results.select(scenario="round_trips")
    if round_trips:
        blocks.append(Heading(3, "Round trips that explain it"))
        blocks += details(ctx, round_trips)
    if series:
        blocks.append(
            Chart(
                "network-sensitivity",
                "noop throughput vs round-trip time",
                _chart(series, ctx.caption, ctx.floor_labels()),
            )
        )
    return blocks


def where(results: RunResults) -> list[Block]:
    """The line under the report's title saying which network its main part was measured at (nothing for a run
    at loopback only, the suite's default)."""
    networks = results.networks
    if not networks or networks == ["loopback"]:
        return []
    text = f"Measured at network **{networks[0]}** ({_network_text(results, networks[0])})"
    if len(networks) > 1:
        text += f"; the same sessions at {', '.join(networks[1:])} are compared in '{SENSITIVITY_TITLE}' at the end"
    return [Paragraph(text + ".")]


def _network_text(results: RunResults, network: str) -> str:
    """'2 ms RTT, SMTP 40 ms: Redis +2.01 ms, PostgreSQL +1.98 ms', or 'direct'."""
    nominal = _nominal(results.at_network(network))
    if not nominal.get("proxied"):
        return "direct"
    return f"{_nominal_text(nominal)}: {_measured(results, network)}"


def _nominal(results: RunResults) -> Mapping[str, Any]:
    return results.records[0].network if results.records else {}


def _nominal_text(network: Mapping[str, Any]) -> str:
    if not network.get("proxied"):
        return "direct"
    return f"{network.get('rtt_ms', 0):g} ms RTT, SMTP {network.get('smtp_rtt_ms', 0):g} ms"


def _chart(series: Mapping[str, Sequence[tuple[float, float]]], caption: str, floors: Collection[str]) -> Figure:
    """Noop tasks/s per backend against the nominal round-trip time (ms)."""
    fig, ax = charts._figure("noop throughput vs round-trip time to Redis / PostgreSQL", caption)
    every = []
    for name, points in series.items():
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        every += ys
        ax.plot(xs, ys, marker="o", label=name, **charts._style(name, floors))
    charts._value_axis(ax, every)
    ax.set_xlabel("nominal round trip (ms; 0 = loopback)")
    ax.set_ylabel("tasks/s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return fig


# --------------------------------------------------------------------------------------------------------------------
# Where the ranking changes with the network

#: The question of the Answer a run at several networks adds.
RANKING_QUESTION = "Where does the ranking change with the network?"


def ends(results: RunResults) -> tuple[str, str] | None:
    """(the run's lowest round trip network — loopback when measured —, its highest); None for a run at one."""
    networks = results.networks
    if len(networks) < 2:
        return None
    nominal = {n: _nominal(results.at_network(n)) for n in networks}

    def rtt(name: str) -> tuple[float, bool]:
        return float(nominal[name].get("rtt_ms") or 0.0), bool(nominal[name].get("proxied"))

    low, high = min(networks, key=rtt), max(networks, key=rtt)
    return (low, high) if low != high else None


def throughput_params(results: RunResults, profile: str, task: str, processes: int | None) -> dict[str, Any]:
    """The headline throughput setting of ``task``: the machine's core count, the backlog mode where measured."""
    params: dict[str, Any] = {"task": task, "processes": processes}
    modes = param_values(results.select(scenario="throughput", profile=profile, params=params), "mode")
    if modes:
        params["mode"] = "backlog" if "backlog" in modes else modes[0]
    return params


def round_trips_of(
    records: Sequence[Record], backend: str, profile: str, phase: str, upstreams: Sequence[str] = UPSTREAMS
) -> float | None:
    """Median round trips per enqueue (``phase`` enqueue) or per task (task) to ``upstreams`` together, over the
    networks the round_trips scenario counted them at; None when not counted."""
    mine = [r for r in records if r.backend == backend and r.profile == profile]
    found = [_median(mine, f"{phase}_{u}") for u in upstreams]
    return sum(v for v in found if v is not None) if any(v is not None for v in found) else None


def _ranking_sentence(
    results: RunResults, profile: str, of: figures.Figure, params: Mapping[str, Any], low: str, high: str
) -> str | None:
    """One figure's sentence: which backends swap rank from ``low`` to ``high``, each backend's figure at ``high`` ÷
    at ``low``, and the round trips that explain it; None when fewer than two backends have both."""
    ctx = make_context(results)
    at = {low: results.at_network(low), high: results.at_network(high)}
    values: dict[str, tuple[float, float]] = {}
    missing = []  # measured at one end only (a failed session, a premise not met): not in the comparison
    for backend in ctx.backends(results.select(scenario=of.scenario, params=dict(params))):
        if ctx.is_floor(backend) or backend in ctx.unverified:
            continue  # never ranked
        at_low, at_high = (derived.figure(at[n], backend, profile, of, params, n).median for n in (low, high))
        if at_low and at_high:
            values[ctx.label(backend)] = (at_low, at_high)
        elif at_low or at_high:
            missing.append(f"{ctx.label(backend)} (no ok figure at {high if at_low else low})")
    if len(values) < 2:
        return None
    sign = 1 if of.higher_is_better else -1
    ranking = RankingComparison(
        profile,
        of.scenario,
        ", ".join(f"{k}={v}" for k, v in params.items()),
        of.label,
        of.unit,
        sorted(values, key=lambda name: -sign * values[name][0]),
        sorted(values, key=lambda name: -sign * values[name][1]),
        values,
        high,
    )
    # What each round trip costs more at ``high`` than at ``low`` (nominal; the measured values are in the section).
    added_ms = float(_nominal(at[high]).get("rtt_ms") or 0.0) - float(_nominal(at[low]).get("rtt_ms") or 0.0)
    what = f"**{of.label}** ({profile}, `{params.get('task')}`" + (
        f", {params['processes']} worker processes)" if params.get("processes") else ")"
    )
    if ranking.swapped:
        pairs = [f"{a} and {b}" if len(ranking.swapped) == 1 else f"{a} ↔ {b}" for a, b in ranking.swapped]
        ties = "; ".join(f"{a} and {b}" for a, b in ranking.swapped if ranking.tie(a, b))
        swap = f"{pairs[0]} swap places" if len(pairs) == 1 else f"these pairs swap places: {'; '.join(pairs)}"
        order = (
            f"the ranking changes: {swap} ({' > '.join(ranking.base_order)} becomes "
            f"{' > '.join(ranking.changed_order)})"
            + (f"; {ties}: within {NEAR_BEST:g}× of each other at both, a tie" if ties else "")
        )
    else:
        order = f"the ranking holds ({' > '.join(ranking.base_order)})"
    phase = noun = "enqueue" if of.scenario == "enqueue" else "task"
    labels = {ctx.label(b): b for b in results.backend_names}
    round_trips = results.select(scenario="round_trips", status="ok")
    parts = []
    for label in ranking.base_order:
        before, after = values[label]
        part = f"{label} {ratio_text(after / before)}"
        turns = round_trips_of(round_trips, labels[label], profile, phase)
        if turns is not None:
            plural = "" if turns == 1 else "s"
            added = duration_ns(turns * added_ms * 1e6)
            part += f" ({_count(turns)} round trip{plural} per {noun} → +{added} of waiting per {noun} at {high})"
        parts.append(part)
    left_out = f" Not compared: {', '.join(missing)}." if missing else ""
    ratios = "; ".join(parts)
    return f"{what}: from {low} to {high} {order}. Each backend's figure at {high} ÷ at {low}: {ratios}.{left_out}"


def ranking_changes(results: RunResults) -> list[str]:
    """For a run at several networks, a sentence per figure — enqueue p50, noop tasks/s, shop-task tasks/s where
    measured — saying which backends swap rank between the lowest and the highest round trip, and why; empty for a
    run at one network."""
    found = ends(results)
    if found is None:
        return []
    low, high = found
    ctx = make_context(results.at_network(low))
    sentences = []
    profile = opening.headline_profile(ctx, "enqueue")
    if profile is not None:
        sentences.append(_ranking_sentence(results, profile, FIGURES["enqueue_p50"], {"task": "noop"}, low, high))
    profile = opening.headline_profile(ctx, "throughput")
    if profile is not None:
        processes = derived.headline_processes(
            results, param_values(results.select(scenario="throughput", profile=profile), "processes")
        )
        for task in ("noop", SHOP_TASK):
            params = throughput_params(results, profile, task, processes)
            sentences.append(_ranking_sentence(results, profile, FIGURES["tasks_per_s"], params, low, high))
    return [s for s in sentences if s is not None]


def answers(results: RunResults) -> list[Block]:
    """The Answer a run at several networks adds: where the ranking changes; nothing for a run at one network."""
    lines = ranking_changes(results)
    if not lines:
        return []
    return [
        Answer(
            RANKING_QUESTION,
            lines,
            "The same sessions at each network; medians over repetitions, floors never ranked. A time that grows "
            "by the round trip times the round trips it makes (counted by the delay proxy in the round_trips "
            "scenario) is the network, not the library's own work; a rate falls as each task waits for its round "
            f"trips. Every network's figures with their floor ratios: '{SENSITIVITY_TITLE}'.",
        )
    ]


def overview(results: RunResults) -> tuple[list[str], list[str], list[list[str]]] | None:
    """The README's view of a run at several networks: a line per figure naming the best backend at the lowest and
    at the highest round trip, and a table (header, rows) of each backend's enqueue p50 and noop tasks/s at every
    network beside the round trips it makes per enqueue and per task; None for a run at one network."""
    found = ends(results)
    if found is None:
        return None
    low, high = found
    networks = sorted(results.networks, key=lambda n: float(_nominal(results.at_network(n)).get("rtt_ms") or 0.0))
    ctx = make_context(results.at_network(low))
    round_trips = results.select(scenario="round_trips", status="ok")
    columns: list[tuple[figures.Figure, str, dict[str, Any], str]] = []
    profile = opening.headline_profile(ctx, "enqueue")
    if profile is not None:
        columns.append((FIGURES["enqueue_p50"], profile, {"task": "noop"}, "enqueue"))
    profile = opening.headline_profile(ctx, "throughput")
    if profile is not None:
        processes = derived.headline_processes(
            results, param_values(results.select(scenario="throughput", profile=profile), "processes")
        )
        columns.append(
            (FIGURES["tasks_per_s"], profile, throughput_params(results, profile, "noop", processes), "task")
        )
    at = {n: results.at_network(n) for n in networks}
    at_ctx = {n: make_context(at[n]) for n in networks}
    ranked = [b for b in ctx.backends(results.records) if not ctx.is_floor(b) and b not in ctx.unverified]
    # The floors (raw broker and database loops) close the table: each network's figures are read against them.
    backends = ranked + [b for b in ctx.backends(results.records) if ctx.is_floor(b)]
    header = ["backend"]
    rows = [[ctx.label(b)] for b in backends]
    lines = []
    for of, profile, params, phase in columns:
        header += [f"{of.label} at {n}" for n in networks] + [f"round trips per {phase}"]
        measured = {b: {n: derived.figure(at[n], b, profile, of, params, n) for n in networks} for b in backends}
        values = {b: {n: m.median for n, m in by_network.items()} for b, by_network in measured.items()}
        for row, b in zip(rows, backends, strict=True):
            for n in networks:
                # Each figure beside its ratio to the floor measured at the same network (floors: absolute only).
                main, absolute = opening.figure_text(at_ctx[n], b, measured[b][n], of.unit)
                row.append(f"{absolute} ({main.removesuffix(' floor').removesuffix(' of')})" if absolute else main)
            row.append(_count(round_trips_of(round_trips, b, profile, phase)))
        best = {}
        for n in (low, high):
            candidates = {b: values[b][n] for b in ranked if values[b][n]}
            if candidates:
                pick = max if of.higher_is_better else min
                best[n] = pick(candidates, key=lambda b, m=candidates: m[b])
        if len(best) == 2:
            what = f"**{of.label}** ({profile}, `noop`)"
            a, b = best[low], best[high]
            if a == b:
                lines.append(
                    f"{what}: {ctx.label(a)} at both ends ({of.text(values[a][low])} at {low}, "
                    f"{of.text(values[a][high])} at {high})."
                )
            else:
                lines.append(
                    f"{what}: {ctx.label(a)} at {low} ({of.text(values[a][low])}); at {high} {ctx.label(b)} "
                    f"({of.text(values[b][high])}), where {ctx.label(a)} takes {of.text(values[a][high])}."
                )
    return lines, header, rows
