"""What the report says: a pure function from a :class:`~bench.results.RunResults` to a list of blocks.

Order: the scorecard (backends × questions, :mod:`bench.report.answers`), a table of contents, the Answers a Django
developer asks first (each with its figure as a ratio to the floor, the absolute beside it, the test result and the
caveat); then the FAQ (the tutorial's two questions, per backend, measured); then the details, one section per
scenario (:mod:`bench.report.sections`); then every setting, the environment and how each number is measured. A
backend that failed verification is listed as failed and never ranked; a floor (a raw broker loop) is never ranked
but shown beside the backends wherever it was measured; a scenario absent from the run is "not measured in this
run"; a scenario without a section is still shown, generically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.environment import key_versions
from bench.report import answers, brokers
from bench.report.context import (
    FOLDED_SCENARIOS,
    KNOWN_SCENARIOS,
    NOT_MEASURED,
    STATUS_SCENARIOS,
    SYNTHETIC_PRESET,
    Context,
    database_label,
    make_context,
    params_text,
)
from bench.report.method import METHOD, method_for
from bench.report.model import Block, Contents, Heading, Paragraph, Table
from bench.report.sections import faults, retries, section
from bench.results import RunResults
from bench.scenarios.registry import REGISTRY

# --------------------------------------------------------------------------------------------------------------------
# FAQ


def _faq(ctx: Context) -> list[Block]:
    """Issue 4's FAQ: the tutorial's two questions, answered per backend with the measured numbers (each answer is
    its scenario's: :func:`bench.report.sections.faults.faq`, :func:`bench.report.sections.retries.faq`)."""
    blocks: list[Block] = [Heading(2, "FAQ: the tutorial's two questions, measured")]
    blocks += faults.faq(ctx)
    blocks += retries.faq(ctx)
    return blocks


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
            elif ctx.is_floor(backend):
                status = (
                    "floor (a raw broker loop): no shop tasks; its readiness probe (a noop round trip) is its check"
                )
            elif measured:
                status = "passed (the shop's real work checked on its real workers before measuring)"
            else:
                status = "nothing measured"
            if crashed:
                status += "; " + "; ".join(f"session crashed ({params_text(r.params)}): {r.error}" for r in crashed)
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


def build(results: RunResults, *, more_answers: Sequence[Block] = ()) -> list[Block]:
    """The whole report as blocks, in reading order: scorecard, contents, answers, FAQ, details, settings, method.

    ``more_answers`` follow the others (answers about more than ``results``: the run's other networks)."""
    ctx = make_context(results)
    run = results.run
    blocks: list[Block] = [Heading(1, f"Django task queue benchmark — run {run.get('id', '?')}")]
    if run.get("preset") == SYNTHETIC_PRESET:
        blocks.append(
            Paragraph("**SYNTHETIC TEST DATA — NOT A MEASUREMENT.** This report was generated from a test fixture.")
        )
    blocks.append(
        Paragraph(
            f"Preset **{run.get('preset', '?')}**, {run.get('repetitions', '?')} repetition(s), profiles "
            f"{', '.join(ctx.profiles()) or '–'}; measured on {ctx.machine}. Ratios are to the floor (the raw "
            "broker loop) measured in the same run; absolute values hold for this machine only."
        )
    )
    trimmed = left_out(ctx.preset, run.get("left_out") or ())
    if trimmed:
        blocks.append(
            Paragraph(
                f"Left out by the {run.get('preset', '?')} preset (its time budget; the full preset measures them): "
                + "; ".join(trimmed)
                + "."
            )
        )
    caveat = floor_database_caveat(results)
    if caveat:
        blocks.append(Paragraph(caveat))
    card = answers.scorecard(ctx)
    if card is not None:
        blocks.append(card)
    toc_at = len(blocks)
    real = [b for b in results.backend_names if not ctx.is_floor(b)]
    floors = [b for b in results.backend_names if ctx.is_floor(b)]
    blocks.append(
        Paragraph(
            f"Backends {', '.join(ctx.label(b) for b in real) or '–'}"
            + (f"; floors {', '.join(ctx.label(b) for b in floors)} (never ranked)" if floors else "")
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
    need_redis = answers.answer_need_redis(ctx)
    profiles = answers.answer_profiles(ctx)
    blocks += [
        answers.answer_enqueue(ctx),
        answers.answer_throughput(ctx),
        answers.answer_latency(ctx),
        *([profiles] if profiles is not None else []),
        *([need_redis] if need_redis is not None else []),
        *([on_brokers] if (on_brokers := brokers.answer(ctx)) is not None else []),
        answers.answer_faults(ctx),
        *([tx] if (tx := answers.answer_transactions(ctx)) is not None else []),
        *retries.answer(ctx),
        faults.answer_redis_down(ctx),
        *more_answers,
    ]
    blocks += _faq(ctx)
    blocks.append(Heading(2, "Details"))
    blocks.append(Heading(3, "Verification"))
    blocks += _verification(ctx)
    present = [s for s in results.scenarios if s not in STATUS_SCENARIOS and s not in FOLDED_SCENARIOS]
    for scenario in [*KNOWN_SCENARIOS, *[s for s in present if s not in KNOWN_SCENARIOS]]:
        title, render = section(scenario)
        records = results.select(scenario=scenario)
        blocks.append(Heading(3, title))
        if not records:
            # A scenario that only runs through the delay proxy is not missing from a loopback run: no section.
            if scenario in REGISTRY and REGISTRY[scenario].proxied_only:
                blocks.pop()
            else:
                blocks.append(Paragraph(f"{title}: {NOT_MEASURED}."))
            continue
        blocks += _demote(render(ctx, records))
    blocks += _settings(ctx)
    blocks += _environment(ctx)
    blocks += _method(ctx)
    headings = [b for b in blocks[toc_at:] if isinstance(b, Heading) and b.level in (2, 3)]
    blocks.insert(toc_at, Contents(headings))
    return blocks


def _demote(blocks: list[Block]) -> list[Block]:
    """Sub-headings of a scenario sit one level below the scenario's own heading."""
    return [Heading(4, b.text) if isinstance(b, Heading) else b for b in blocks]


def floor_database_caveat(results: RunResults) -> str | None:
    """A warning when the run's database floor did not run on the run's database engine, else ``None``.

    The floor records the engine it ran on (``environment.database.floors``). A run without that entry, made on
    PostgreSQL, is from a harness that gave the database floor no database URL: its floor ran on SQLite files.
    """
    database = results.environment.get("database") or {}
    if database.get("engine") != "postgresql":
        return None
    floors = [
        name
        for name, info in results.backends.items()
        if info.get("role") == "floor"
        and info.get("broker") == "database"
        and any(r.backend == name for r in results.records)
    ]
    if not floors:
        return None
    engines = {str(v.get("engine")) for v in (database.get("floors") or {}).values()}
    if engines == {"postgresql"}:
        return None
    return (
        "**Caveat: the database floor of this run ran on SQLite, not on the run's PostgreSQL** (the harness gave it "
        "no database URL before 2026-12-06), so ratios of the database-queue backends to it compare PostgreSQL with "
        "SQLite; their absolute figures, and everything measured against the Redis floor, are unaffected."
    )


def _title(scenario: str) -> str:
    """A scenario's name as its report section titles it."""
    module = REGISTRY[scenario].section_module()
    return str(getattr(module, "TITLE", scenario))


#: Preset keys whose trims only concern the fault scenarios.
_FAULT_TRIM_KEYS = ("long_delay_s", "redis_persistence", "redis_crash", "fault_profiles")


def left_out(preset: Mapping[str, Any], scenarios: Iterable[str] = ()) -> list[str]:
    """What a preset, as recorded in the run, chose not to measure, in the reader's words (empty for the full one).

    ``scenarios``: the whole scenarios the run left out for the preset's time budget (``run.left_out``); the fault
    scenarios' own trims are not listed when the fault scenarios did not run at all.
    """
    if not preset:
        return []
    trimmed = []
    skipped = [name for name in scenarios if name in REGISTRY]
    if skipped:
        runnable = [name for name in skipped if REGISTRY[name].in_session]
        if runnable:
            titles = [_title(name).lower() for name in runnable]
            listed = ", ".join(titles[:-1]) + " and " + titles[-1] if len(titles) > 1 else titles[0]
            trimmed.append(
                f"{listed} (`--scenarios all` runs every scenario; `--scenarios {','.join(runnable)}` these)"
            )
        # A pass outside the sessions runs with the scenario it belongs to whenever --scenarios names that one.
        trimmed += [_title(name).lower() for name in skipped if not REGISTRY[name].in_session]
    if any(REGISTRY[name].fault for name in skipped):
        preset = {k: v for k, v in preset.items() if k not in _FAULT_TRIM_KEYS}
    if preset.get("microbench") is False:
        trimmed.append("the pytest-benchmark cross-check of the enqueue latency")
    if preset.get("concurrent_tasks") == {}:
        trimmed.append("shop-task throughput (noop backlog only)")
    if preset.get("idle_pickup_s") == []:
        trimmed.append("idle pickup latency")
    if preset.get("long_delay_s") == 0:
        trimmed.append("tasks scheduled past the redelivery timeout")
    persistence = preset.get("redis_persistence")
    if isinstance(persistence, list) and "aof" not in persistence:
        trimmed.append("Redis restart with AOF")
    if preset.get("redis_crash") is False:
        trimmed.append("Redis crash (SIGKILL)")
    profiles = preset.get("fault_profiles")
    if isinstance(profiles, list) and profiles:
        missing = [p for p in ("bare", "safe") if p not in profiles]
        if missing:
            trimmed.append(f"faults in the {' and '.join(missing)} profile(s) (--fault-profiles)")
    return trimmed
