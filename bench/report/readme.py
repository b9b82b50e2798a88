"""The README's findings, written by code from the runs it names: ``python -m bench.report readme [--check]``.

README.md carries generated regions between two HTML comments::

    <!-- generated: answer from results/2026-11-30T06-08-41Z-c9c044b -->
    …written by this module…
    <!-- end generated: answer -->

The opening comment names the region's kind and the run(s) it is written from; everything between the two comments is
replaced by what :data:`REGIONS` renders from those runs. A region of a kind in :data:`OPTIONAL_RUN` may name
:data:`NO_RUN` instead, until its reference run is committed; it then says so in one generated line. ``--check`` writes
nothing and exits 1 when README.md is not what it would write, so a hand edit of a generated figure fails ``nox -s
lint``. To move the README to a newer run, edit the run id in the opening comment and run ``nox -s report -- readme``.

Every statement a region makes comes from the run's scorecard (``bench.report.answers.scorecard``), the same figures
report.md shows, and links the run's report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.report.model import Cell, ScoreRow
from bench.results import ResultsError, RunResults, load_results

#: ``<!-- generated: KIND from results/RUN[, results/RUN…] -->`` … ``<!-- end generated: KIND -->``
_REGION = re.compile(
    r"(?P<open><!-- generated: (?P<kind>[a-z-]+) from (?P<runs>[^>]*?) -->\n)(?P<body>.*?)"
    r"(?P<close><!-- end generated: (?P=kind) -->)",
    re.DOTALL,
)
_RUN_PATH = re.compile(r"results/([0-9A-Za-z-]+)")

#: What a reader who needs what a scorecard column measures is looking for, by the column's title. A column not
#: listed is introduced by its title.
NEEDS = {
    "Enqueue": "The fastest enqueue call (`.delay()`, `.send()`, `async_task()`)",
    "Throughput": "The most tasks per second",
    "Latency under load": "The shortest wait under a steady load",
    "SIGKILL": "Nothing lost when a worker is killed (SIGKILL, the OOM killer)",
    "SIGTERM": "Nothing lost when a worker is stopped (SIGTERM: a deploy, `docker stop`)",
    "Redis restart": "Nothing lost when Redis restarts without persistence",
    "Redis restart, AOF": "Nothing lost when Redis restarts with AOF",
    "Redis crash, AOF": "Nothing lost when Redis crashes (SIGKILL) with AOF everysec",
    "Retries": "Retries as configured (3 retries, 1 s apart)",
    "Redis down": "A clean error at enqueue while Redis is down, and workers that resume by themselves",
}


@dataclass(frozen=True)
class Run:
    """A run a region is written from: its id, its results and its report's path relative to the README."""

    run_id: str
    results: RunResults

    @property
    def link(self) -> str:
        """A Markdown link to the run's report."""
        return f"[`{self.run_id}`](results/{self.run_id}/report.md)"


#: Scorecard columns whose title carries a parameter ("Scheduled 15 s ahead"): the need, by the title's start.
NEEDS_BY_PREFIX = {"Scheduled": "A task scheduled past the redelivery timeout runs once"}
#: Columns the README states in its own words (the scorecard's tone answers another question there).
OWN_LINES = ("In a transaction",)


def make_context(results: RunResults):  # -> bench.report.context.Context
    from bench.report.context import make_context as context

    return context(results)


def _scorecard(results: RunResults):  # -> bench.report.model.Scorecard | None
    """The run's scorecard, as its report draws it (a run at several networks: its first network's)."""
    from bench.report import answers
    from bench.report.context import main_part

    return answers.scorecard(make_context(main_part(results)))


def _need(title: str) -> str:
    for prefix, need in NEEDS_BY_PREFIX.items():
        if title.startswith(prefix):
            return need
    return NEEDS.get(title, title)


def transaction_line(run: Run) -> str | None:
    """Which backends run a task enqueued inside a transaction only after its commit and never after a rollback, by
    themselves; and whether ``transaction.on_commit`` made every other backend do so."""
    from bench.report import answers
    from bench.report.facts import on_commit_fixed

    ctx = make_context(run.results)
    profile = answers.headline_profile(ctx, "faults")
    if profile is None:
        return None
    facts = answers.transactions_by_backend(ctx, profile)
    if not facts:
        return None
    by_itself = [
        ctx.label(b)
        for b, modes in facts.items()
        if "commit_late" in modes
        and "rollback" in modes
        and modes["commit_late"].started_before_end is False
        and not modes["rollback"].attempts
    ]
    fixed = [ctx.label(b) for b, modes in facts.items() if on_commit_fixed(modes)]
    others = [ctx.label(b) for b in facts if ctx.label(b) not in by_itself]
    line = (
        f"- **A task enqueued inside a transaction runs after the commit, never after a rollback** ({profile}) — by "
        f"itself: {', '.join(by_itself) or 'no backend'}"
    )
    if others:
        all_fixed = set(others) <= set(fixed)
        line += f"; the others ({', '.join(others)}) ran it before the commit or after a rollback, and " + (
            "`transaction.on_commit` fixed that for every one of them"
            if all_fixed
            else f"`transaction.on_commit` fixed it for {', '.join(o for o in others if o in fixed) or 'none'}"
        )
    return line + f" ({database_text(ctx)})."


def database_text(ctx) -> str:
    """'on PostgreSQL 15.20 (private cluster)': the database the transactions ran on."""
    from bench.report.context import database_label

    return "on " + database_label(ctx.results.environment)


def describe(run: Run) -> str:
    """One sentence: where and how the run was measured (preset, date, machine, versions, database, commit, and the
    network its scorecard was measured at)."""
    from bench.report.context import main_part, network_line

    results = run.results
    env = results.environment
    packages = env.get("packages") or {}
    database = env.get("database") or {}
    engine = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(database.get("engine"), "SQLite")
    db_version = str(database.get("version") or "").split(" ")[0]
    profiles = ", ".join(f"`{p}`" for p in results.run.get("profiles") or ())
    reps = results.run.get("repetitions", 1)
    network = network_line(main_part(results), lead="Network").replace("**", "`")
    return (
        f"Measured in {run.link}: {results.run.get('preset', '?')} preset, "
        f"{str(results.run.get('started_at', '?'))[:10]}, {env.get('cpu_model', '?')} with {env.get('cpu_count', '?')} "
        f"cores, Python {env.get('python', '?')}, Django {packages.get('django', '?')}, {engine} {db_version}, "
        f"Redis {env.get('redis_version', '?')}, commit `{str(env.get('git_commit', '?'))[:7]}`; profile {profiles}, "
        f"{reps} repetition{'s' if reps != 1 else ''}. {network}."
    )


def _cell_text(cell: Cell) -> str:
    return f"{cell.text} ({cell.detail})" if cell.detail and cell.detail != "floor" else cell.text


def pick_by_need(run: Run) -> list[str]:
    """One line per scorecard column: the backends the scorecard marks best (green) with their figures, or, when
    none is, the best it has and that none is green."""
    card = _scorecard(run.results)
    if card is None:
        return []
    rows: list[ScoreRow] = [r for r in card.rows if not r.floor]
    lines = []
    for i, (title, _note) in enumerate(card.columns):
        if title in OWN_LINES:
            if title == "In a transaction" and (line := transaction_line(run)):
                lines.append(line)
            continue
        cells = [(row.label, row.cells[i]) for row in rows if i < len(row.cells)]
        good = [(label, cell) for label, cell in cells if cell.tone == "good"]
        need = _need(title)
        measured = [c for c in cells if c[1].tone != "na"]
        if good and len(good) == len(measured) > 2:
            lines.append(f"- **{need}** — every backend measured (each one's figure: the scorecard).")
            continue
        if good:
            chosen = "; ".join(f"{label}: {_cell_text(cell)}" for label, cell in good)
            lines.append(f"- **{need}** — {chosen}.")
            continue
        middling = [(label, cell) for label, cell in cells if cell.tone == "mid"]
        if middling:
            chosen = "; ".join(f"{label}: {_cell_text(cell)}" for label, cell in middling)
            lines.append(f"- **{need}** — no backend without a caveat; closest: {chosen}.")
        elif any(cell.tone == "bad" for _, cell in cells):
            lines.append(f"- **{need}** — none of the backends measured.")
    no_redis = [
        str(info.get("label") or name)
        for name, info in run.results.backends.items()
        if info.get("broker") == "database" and info.get("role") != "floor"
    ]
    if no_redis:
        lines.append(
            f"- **No Redis to run** — {', '.join(no_redis)}: the queue is a table of Django's own database "
            "(its row above shows what that costs)."
        )
    return lines


def render_answer(runs: Sequence[Run]) -> str:
    """The README's answer: where it was measured, the scorecard image, and a line per need."""
    run = runs[0]
    lines = [
        describe(run),
        "",
        f"![Scorecard: backends as rows, questions as columns, green = best or within 1.25× of it]"
        f"(results/{run.run_id}/scorecard.png)",
        "",
        "**Pick by what you need** (each line from the scorecard above; figures are ratios to the raw broker loop "
        "measured in the same run, the absolute value beside it; green = best or within 1.25× of the best — the "
        f"report's legend; every caveat is in {run.link}):",
        "",
        *pick_by_need(run),
    ]
    return "\n".join(lines) + "\n"


def render_network(runs: Sequence[Run]) -> str:
    """Which findings change with the network, from a run at several networks: a line per figure (enqueue p50, noop
    tasks/s) naming the best backend at loopback and at the run's highest round trip, then a table of every backend's
    figure at each network beside the round trips it makes (``bench.report.sections.network.overview``); the report's
    Answer has the full ranking changes. One line without such a run."""
    from bench.report.sections import network

    if not runs:
        return (
            "No run at several networks is named yet: the findings above were measured at one network (each report "
            "says which), and which of them change with the round trip to the broker and PostgreSQL is still to be "
            "measured (`--network loopback,lan,az`).\n"
        )
    run = runs[0]
    found = network.overview(run.results)
    if found is None:
        networks = ", ".join(run.results.networks)
        return f"{run.link} was measured at {networks} only: it cannot say what changes with the network.\n"
    lines, header, rows = found
    head = (
        f"{_measured_in(run)}. In brackets: each figure ÷ its broker's floor at the same network (tasks/s: % of "
        "it); the floors close the table. Its report's 'Sensitivity to the network' has each network's measured "
        "round trip and every pair of backends that swaps places."
    )
    text = _bullets(head, lines, " No figure was measured for two backends at both ends of its networks.")
    return text + ("\n" + _table(header, rows) if rows else "")


def _measured_in(run: Run, *services: str) -> str:
    """'Measured in <link> at loopback, az (quick preset, 2026-12-06, <cpu> with 2 cores[, <service> <version>…])':
    ``services`` name ``<service>_version`` entries of the run's environment ("rabbitmq", "redis")."""
    results, env = run.results, run.results.environment
    versions = "".join(f", {_SERVICE_NAMES[s]} {env.get(f'{s}_version', '?')}" for s in services)
    return (
        f"Measured in {run.link} at {', '.join(results.networks)} ({results.run.get('preset', '?')} preset, "
        f"{str(results.run.get('started_at', '?'))[:10]}, {env.get('cpu_model', '?')} with "
        f"{env.get('cpu_count', '?')} cores{versions})"
    )


_SERVICE_NAMES = {"rabbitmq": "RabbitMQ", "redis": "Redis"}


def _bullets(head: str, lines: Sequence[str], none: str) -> str:
    """``head`` and one bullet per line; ``head`` + ``none`` when there are no lines."""
    if not lines:
        return head + none + "\n"
    return "\n".join([head, "", *(f"- {line}" for line in lines)]) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table ('' without rows)."""
    from bench.report.markdown import render as markdown
    from bench.report.model import Table

    return markdown([Table(list(header), [list(r) for r in rows])], Path(".")) if rows else ""


def render_brokers(runs: Sequence[Run]) -> str:
    """Redis or RabbitMQ, for each library measured on both: a line saying where each figure favours a broker and a
    table of the figures per network (``bench.report.brokers.figure_table``; the report's Answer has the same
    figures as sentences), from the first run named; one line when it measured no library on both."""
    from bench.report import brokers

    run = runs[0]
    head = f"{_measured_in(run, 'rabbitmq', 'redis')}; its report's Answer '{brokers.QUESTION}' has the caveats."
    lines, header, rows = brokers.figure_table(run.results)
    text = _bullets(head, lines, " It measured no library on both brokers.")
    return text + ("\n" + _table(header, rows) if rows else "")


def render_broker_faults(runs: Sequence[Run]) -> str:
    """What survives on each broker: a row per fault, a column per backend of each library run on both brokers
    (``bench.report.brokers.fault_table``), from the first run named; one line without such a run."""
    from bench.report import brokers

    if not runs:
        return "No fault run of a library on both brokers is named yet.\n"
    run = runs[0]
    profiles = ", ".join(make_context(run.results).scenario_profiles("faults"))
    head = (
        f"{_measured_in(run, 'rabbitmq', 'redis')}, fault profiles {profiles}; gone n/m = n of the m tasks at risk "
        "held nowhere; the report has the rule behind each 'due'."
    )
    header, rows = brokers.fault_table(run.results)
    if not rows:
        return head + " It measured no library's faults on both brokers.\n"
    return head + "\n\n" + _table(header, rows)


def io_line(run: Run) -> str | None:
    """One run's IO-bound finding: invoice emails confirmed per second with the SMTP server 40 ms away, each backend
    in its ``io`` profile (many waiting tasks per process) beside ``shipped`` (one task per process), with the
    worker's RSS per task in flight; None when the run has no ``io_bound`` record."""
    from bench.report.numbers import bytes_text, rate_text, ratio_text
    from bench.report.sections import io_bound

    every = run.results.select(scenario="io_bound")
    if not every:
        return None
    ctx = make_context(run.results)
    # Where and how many at once, as the run recorded them: the network's SMTP round trip, the peak of tasks in flight.
    smtp = sorted({float(r.network.get("smtp_rtt_ms") or 0) for r in every})
    networks = ", ".join(sorted({str(r.network.get("name")) for r in every}))
    networks += f" (SMTP {', '.join(f'{ms:g}' for ms in smtp)} ms away)"
    peak = io_bound.median_of([r for r in every if r.ok and r.profile == "io"], "peak_in_flight")
    parts = []
    for backend in ctx.backends(every):
        mine = {p: [r for r in every if r.backend == backend and r.profile == p] for p in ("shipped", "io")}
        rate = {p: io_bound.median_of([r for r in rs if r.ok], "tasks_per_s") for p, rs in mine.items()}
        # What a profile without a figure had instead: its status ('premise_not_met', 'failed'), or its declaration.
        status = {p: next((r.status for r in rs if not r.ok), "not run") for p, rs in mine.items()}
        same_as = ((ctx.results.backends.get(backend) or {}).get("profiles", {}).get("io") or {}).get("same_as")
        if rate["io"]:
            shipped = (
                f"{ratio_text(rate['io'] / rate['shipped'])} shipped's {rate['shipped']:.3g}"
                if rate["shipped"]
                else f"shipped {status['shipped'].replace('_', ' ')}"
            )
            rss = io_bound.median_of([r for r in mine["io"] if r.ok], "rss_per_task_in_flight_bytes")
            extra = [shipped, f"{bytes_text(rss)} RSS per waiting task" if rss else ""]
            parts.append((rate["io"], f"{ctx.label(backend)} {rate_text(rate['io'], 'emails/s')} "
                                      f"({', '.join(e for e in extra if e)})"))  # fmt: skip
        elif rate["shipped"]:
            why = f"io same as {same_as}" if same_as else f"io {status['io'].replace('_', ' ')}"
            parts.append((rate["shipped"], f"{ctx.label(backend)} {rate_text(rate['shipped'], 'emails/s')} ({why})"))
    parts.sort(key=lambda part: -part[0])
    if not parts:
        return None
    at_once = f", io {peak:.0f} tasks in flight" if peak else ""
    return f"at {networks}{at_once}, {run.link}: " + "; ".join(text for _, text in parts) + "."


def render_io(runs: Sequence[Run]) -> str:
    """IO-bound tasks: a line per run named (:func:`io_line`), best first; runs may be of different machines, so no
    line mixes two runs."""
    lines = [line for run in runs if (line := io_line(run))]
    head = (
        "`send_invoice_email` confirmed done per second with the SMTP server far away: `--profile io` (each "
        "library's documented way to run many waiting tasks at once, threads where the library has them; command "
        "lines in each report) against `shipped` (one task per worker process)."
    )
    return _bullets(head, lines, " None of the runs named measured it.")


#: Region kind → renderer of its text from its runs.
REGIONS: dict[str, Callable[[Sequence[Run]], str]] = {
    "answer": render_answer,
    "network": render_network,
    "brokers": render_brokers,
    "broker-faults": render_broker_faults,
    "io": render_io,
}
#: Kinds of region that may name no run yet (their reference run is still to be made): ``from (no run yet)``.
OPTIONAL_RUN = ("network", "broker-faults")
NO_RUN = "(no run yet)"


class ReadmeError(Exception):
    """README.md's generated regions cannot be written; the message is one line."""


def _runs(spec: str, results_dir: Path, kind: str = "") -> list[Run]:
    ids = _RUN_PATH.findall(spec)
    if not ids and kind in OPTIONAL_RUN and spec.strip() == NO_RUN:
        return []
    if not ids:
        raise ReadmeError(f"a generated region names no run (results/<run-id>): {spec!r}")
    runs = []
    for run_id in ids:
        path = results_dir / run_id / "results.json"
        try:
            runs.append(Run(run_id, load_results(path)))
        except ResultsError as exc:
            raise ReadmeError(str(exc)) from None
    return runs


def render(text: str, results_dir: Path) -> str:
    """README text with every generated region rewritten from its runs."""
    found = list(_REGION.finditer(text))
    if not found:
        raise ReadmeError("README.md has no generated region (<!-- generated: KIND from results/RUN -->)")

    def replace(match: re.Match[str]) -> str:
        kind = match["kind"]
        if kind not in REGIONS:
            raise ReadmeError(f"unknown generated region {kind!r}; known: {', '.join(REGIONS)}")
        body = REGIONS[kind](_runs(match["runs"], results_dir, kind))
        return match["open"] + body + match["close"]

    return _REGION.sub(replace, text)


def write(readme: Path, results_dir: Path, *, check: bool = False) -> bool:
    """Rewrite the generated regions of ``readme``; with ``check``, write nothing. Whether it was (or is) current."""
    text = readme.read_text(encoding="utf-8")
    new = render(text, results_dir)
    if new == text:
        return True
    if not check:
        readme.write_text(new, encoding="utf-8")
    return False
