"""Channel overhead: the measurement channel's own cost per event, in a process with the backend's environment."""

from __future__ import annotations

from bench import stats
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario

#: Event writes timed one by one.
EVENTS = 20_000


def run(session: ScenarioSession) -> None:
    """The channel's own cost per event, in a process with the backend's environment."""
    assert session.producer is not None
    answer = session.producer.call("channel_overhead", events=EVENTS)
    p = stats.percentiles(answer["histogram"])
    session.record(
        "channel_overhead",
        {},
        histograms={"write_ns": answer["histogram"]},
        values={"count": answer["count"], "write_ns_p50": p.p50, "write_ns_p99": p.p99},
    )


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return 1.0


#: How it is measured, for the report's Method section (``{key}``: the run's preset value of that key).
METHOD = (
    "The cost of the measurement channel itself: 20,000 event writes timed one by one (perf_counter_ns) in a "
    "process with the backend's environment, the same code path the tasks use. Every task writes two events "
    "(start and finish); the report relates that to the time a worker process spends per noop task at the "
    "measured backlog throughput, so its share of every other number can be judged."
)


SCENARIO = Scenario(
    name="channel_overhead",
    description="cost of the measurement channel itself (ns per event written)",
    run=run,
    estimate=estimate_s,
    preset_keys=(),
    method=METHOD,
    section="bench.report.sections.channel_overhead",
)
