"""Channel overhead: the measurement channel's own cost per event, in a process with the backend's environment."""

from __future__ import annotations

from bench import stats
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession


def run(session: ScenarioSession) -> None:
    """The channel's own cost per event, in a process with the backend's environment."""
    assert session.producer is not None
    answer = session.producer.call("channel_overhead", events=session.preset.channel_events)
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
