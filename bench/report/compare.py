"""Compare two runs figure by figure, in the manner of pyperf's ``compare_to``.

For every measurement present in both runs (same backend, profile, scenario, parameters and network: a figure at
loopback is never compared with one at 2 ms) and every registered
figure of its scenario (:data:`bench.report.figures.FIGURES`), the per-repetition values are compared with
``bench.stats.compare_samples``: "1.30x slower", "1.10x faster" or "not significant". Environment differences that
change numbers are printed first as warnings; when there are any, the time and rate figures are compared as ratios
to each backend's floor measured in the same run (absolute numbers move 3x between machines, ratios to the floor
about 10 %), named "… ÷ floor".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from bench import stats
from bench.environment import compare_environments
from bench.report import derived
from bench.report.figures import FIGURES, NEAR_BEST, Figure, figures_for, format_value
from bench.results import RecordKey, RunResults

#: The network of every record measured before the network axis, and of direct connections: not named in the text.
LOOPBACK = "loopback"


@dataclass(frozen=True)
class MetricComparison:
    """One row of the comparison."""

    backend: str
    profile: str
    scenario: str
    params: str
    metric: str
    unit: str
    higher_is_better: bool
    comparison: stats.Comparison
    network: str = LOOPBACK


@dataclass(frozen=True)
class RankingComparison:
    """The order of the backends by one metric in both runs (medians; floors are never ranked)."""

    profile: str
    scenario: str
    params: str
    metric: str
    unit: str
    base_order: list[str]
    changed_order: list[str]
    #: backend → (median in the base run, median in the changed run)
    values: dict[str, tuple[float, float]]
    network: str = LOOPBACK

    @property
    def swapped(self) -> list[tuple[str, str]]:
        """Pairs of backends ranked one way in the base run and the other way in the changed run."""
        position = {name: i for i, name in enumerate(self.changed_order)}
        return [
            (a, b) for i, a in enumerate(self.base_order) for b in self.base_order[i + 1 :] if position[a] > position[b]
        ]

    def tie(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are within the scorecard's "near the best" factor of each other in both runs (a
        swap between them is within what the report itself calls equal)."""
        return all(
            min(x, y) > 0 and max(x, y) / min(x, y) <= NEAR_BEST
            for x, y in zip(self.values[a], self.values[b], strict=True)
        )


#: The figures whose ranking ``compare`` checks: the ones the report's Answers rank backends by.
RANKED_LABELS = tuple(f.label for f in FIGURES.values() if f.ranked)


@dataclass(frozen=True)
class RunComparison:
    """Everything ``compare`` prints."""

    warnings: list[str]
    rows: list[MetricComparison]
    only_in_base: int
    only_in_changed: int
    rankings: list[RankingComparison] = field(default_factory=list)
    #: How many measurements both runs have (ok), compared or not.
    shared: int = 0

    def geometric_mean(self) -> float:
        """Geometric mean of the 'changed is slower by' factors of every row (> 1: the changed run is slower)."""
        return stats.geometric_mean(
            (1 / row.comparison.ratio if row.higher_is_better else row.comparison.ratio)
            for row in self.rows
            if row.comparison.ratio > 0
        )


#: Units of the metrics that are compared as ratios to the floor when the environments differ.
RATIO_UNITS = ("ns", "tasks/s")


def _ratios(results: RunResults, key: RecordKey, metric: Figure) -> list[float] | None:
    """The metric's per-repetition ratios to the backend's floor at the same network in ``results``; None without a
    floor."""
    if derived.is_floor(results, key.backend):
        return None
    fig = derived.figure(results, key.backend, key.profile, metric, json.loads(key.params), key.network)
    return fig.ratios or None


def shared_measurements(base: RunResults, changed: RunResults) -> set[RecordKey]:
    """The measurements (backend, profile, scenario, params, network) both runs have an ok repetition of: what a
    comparison of the two can say anything about."""
    return set(base.groups(status="ok")) & set(changed.groups(status="ok"))


def network_warning(base: RunResults, changed: RunResults) -> str | None:
    """What differs between the networks the two runs measured at (figures at different networks are never paired);
    None when they are the same."""
    a, b = base.networks, changed.networks
    if a == b:
        return None
    shared = [n for n in a if n in b]
    both = f"figures at {', '.join(shared)} only are compared" if shared else "no measurement is compared"
    return f"networks differ: {', '.join(a)} vs {', '.join(b)}; {both} (a figure is compared at its own network)"


def compare_runs(base: RunResults, changed: RunResults, *, ratios: bool | None = None) -> RunComparison:
    """Compare ``changed`` against ``base``; as ratios to the floor when ``ratios`` (default: environments differ)."""
    warnings = compare_environments(base.environment, changed.environment)
    use_ratios = bool(warnings) if ratios is None else ratios
    if use_ratios:
        because = "environments differ: " if warnings else ""
        warnings.append(f"{because}times and rates are compared as ratios to each run's own floor")
    if (differ := network_warning(base, changed)) is not None:
        warnings.append(differ)
    if base.run.get("preset") != changed.run.get("preset"):
        warnings.append(
            f"presets differ: {base.run.get('preset')} vs {changed.run.get('preset')} (workload sizes differ)"
        )
    a, b = base.groups(status="ok"), changed.groups(status="ok")
    rows = []
    for key in sorted(set(a) & set(b)):
        backend, profile, scenario, params, network = key
        for metric in (f for f in figures_for(scenario, a[key] + b[key]) if f.compared):
            va, vb = metric.per_repetition(a[key]), metric.per_repetition(b[key])
            if use_ratios and metric.unit in RATIO_UNITS and not derived.is_floor(base, backend):
                ra, rb = _ratios(base, key, metric), _ratios(changed, key, metric)
                if ra is None or rb is None:
                    continue  # no floor in one of the runs: absolute numbers from different machines say nothing
                va, vb = ra, rb
                metric = replace(metric, label=f"{metric.label} ÷ floor", unit="ratio")
            if not va or not vb:
                continue
            if not any(va) and not any(vb):
                continue  # 0 lost vs 0 lost: nothing to compare
            if stats.summarize(va).median == 0:
                continue  # a ratio against zero has no meaning (e.g. 0 → 2 lost tasks; shown by the report)
            comparison = stats.compare_samples(va, vb, higher_is_better=metric.higher_is_better)
            rows.append(
                MetricComparison(
                    backend,
                    profile,
                    scenario,
                    _params(params),
                    metric.label,
                    metric.unit,
                    metric.higher_is_better,
                    comparison,
                    network,
                )
            )
    shared = len(set(a) & set(b))
    return RunComparison(warnings, rows, len(set(a) - set(b)), len(set(b) - set(a)), _rankings(base, rows), shared)


def _rankings(base: RunResults, rows: list[MetricComparison]) -> list[RankingComparison]:
    """Per profile, scenario, parameters and ranked metric: the backends' order in both runs (best first), over the
    backends measured in both; floors are left out (never ranked), as are groups of fewer than two backends."""
    groups: dict[tuple[str, str, str, str, str], list[MetricComparison]] = {}
    for row in rows:
        if row.metric.removesuffix(" ÷ floor") in RANKED_LABELS and not derived.is_floor(base, row.backend):
            groups.setdefault((row.profile, row.scenario, row.params, row.network, row.metric), []).append(row)
    rankings = []
    for (profile, scenario, params, network, metric), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        sign = 1 if members[0].higher_is_better else -1
        values = {m.backend: (m.comparison.base.median, m.comparison.changed.median) for m in members}
        base_order = sorted(values, key=lambda name: -sign * values[name][0])
        changed_order = sorted(values, key=lambda name: -sign * values[name][1])
        rankings.append(
            RankingComparison(
                profile, scenario, params, metric, members[0].unit, base_order, changed_order, values, network
            )
        )
    return rankings


def _params(canonical: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in json.loads(canonical).items())


def render_text(result: RunComparison, base_name: str, changed_name: str) -> str:
    """The plain-text table ``python -m bench.report compare`` prints."""
    lines = [f"Comparing {changed_name} against {base_name}", ""]
    for warning in result.warnings:
        lines.append(f"WARNING: {warning}")
    if result.warnings:
        lines.append("")
    # A network column only when a figure was measured through the delay proxy (loopback runs print as before).
    networks = any(row.network != LOOPBACK for row in result.rows)
    header: tuple[str, ...] = ("scenario", "backend", "profile", "params", *(("network",) if networks else ()))
    header += ("metric", "base", "changed", "verdict")
    table = [header]
    for row in result.rows:
        c = row.comparison
        table.append(
            (
                row.scenario,
                row.backend,
                row.profile,
                row.params or "-",
                *((row.network,) if networks else ()),
                row.metric,
                format_value(c.base.median, row.unit) + (f" (n={c.base.n})" if c.base.n > 1 else ""),
                format_value(c.changed.median, row.unit) + (f" (n={c.changed.n})" if c.changed.n > 1 else ""),
                c.verdict,
            )
        )
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        lines.append("  ".join(str(cell).ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    if result.rows:
        gm = result.geometric_mean()
        lines.append(
            f"Geometric mean over {len(result.rows)} metrics: {stats.format_ratio(gm, higher_is_better=False)}"
        )
    elif result.shared:
        lines.append(
            f"{result.shared} measurement(s) are present in both runs, but none has a figure to compare (zero in "
            "both, or no floor in one run)."
        )
    else:
        lines.append("No measurement is present in both runs.")
    if result.rankings:
        lines += ["", "Rankings (best first; floors are not ranked):"]
        for ranking in result.rankings:
            what = f"{ranking.scenario} {ranking.params or '-'} {ranking.metric} [{ranking.profile}]"
            what += f" at {ranking.network}" if ranking.network != LOOPBACK else ""
            if not ranking.swapped:
                lines.append(f"  same order:    {what}: {' > '.join(ranking.base_order)}")
                continue
            lines.append(f"  ORDER DIFFERS: {what}")
            lines.append(f"      {base_name}: {' > '.join(ranking.base_order)}")
            lines.append(f"      {changed_name}: {' > '.join(ranking.changed_order)}")
            for a, b in ranking.swapped:
                va, vb = ranking.values[a], ranking.values[b]
                tie = ranking.tie(a, b)
                lines.append(
                    f"      {a} vs {b}: {format_value(va[0], ranking.unit)} vs {format_value(vb[0], ranking.unit)}, "
                    f"then {format_value(va[1], ranking.unit)} vs {format_value(vb[1], ranking.unit)}"
                    + (f" (within {NEAR_BEST:g}x of each other in both runs: a tie)" if tie else "")
                )
    if result.only_in_base or result.only_in_changed:
        lines.append(
            f"Measurements only in {base_name}: {result.only_in_base}; only in {changed_name}: {result.only_in_changed}"
        )
    return "\n".join(lines) + "\n"
