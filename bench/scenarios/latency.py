"""Latency under load: an open-loop noop producer at fixed offered rates, latency from each intended send time."""

from __future__ import annotations

from bench import completion, stats
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.scenarios.unit import Scenario


def run(session: ScenarioSession) -> None:
    """Open-loop noop producer at each offered rate; stops going higher once a rate is clearly beyond saturation.

    A task is completed when it is done as the session counts done (its ``C`` event, else ``F``).
    """
    assert session.producer is not None
    session.ensure_workers()
    preset = session.preset
    bound_ns = preset.latency_bound_ms * 1e6
    kind = session.completion or completion.BODY
    for rate in preset.latency_rates:
        prefix = session.prefix(f"lat{rate}-")
        answer = session.producer.call(
            "open_loop", task="noop", rate=rate, duration_s=preset.latency_duration_s, prefix=prefix
        )
        intended = answer["intended_ns"]
        probes = [f"{prefix}{i}" for i in range(len(intended))]
        session.drain(probes)
        log = session.watcher.log
        done_of = getattr(log, completion.KIND_FIELD[kind])
        to_start = stats.new_histogram()
        to_finish = stats.new_histogram()
        to_done = stats.new_histogram()
        lost = 0
        last_done = 0
        for probe, due in zip(probes, intended, strict=True):
            if not done_of.get(probe):
                lost += 1
                continue
            done = min(done_of[probe])
            last_done = max(last_done, done)
            stats.record(to_start, [min(log.starts[probe]) - due])
            if log.finishes.get(probe):
                stats.record(to_finish, [min(log.finishes[probe]) - due])
            stats.record(to_done, [done - due])
        completed = len(intended) - lost
        histograms = {"to_start_ns": stats.encode(to_start), "to_finish_ns": stats.encode(to_finish)}
        if kind == completion.CONFIRMED:
            histograms["to_confirm_ns"] = stats.encode(to_done)
        record = session.record(
            "latency",
            {"task": "noop", "processes": session.processes, "rate": rate},
            histograms=histograms,
            values={
                "offered_rate": rate,
                "achieved_rate": answer["achieved_rate"],
                "sent": len(intended),
                "completed": completed,
                "completion": kind,
                # Completions over the time from the first intended send to the last completion.
                "completed_rate": completed * 1e9 / (last_done - intended[0]) if last_done > intended[0] else None,
                "duration_s": preset.latency_duration_s,
                "lost": lost,
                "max_send_lag_ns": answer["max_send_lag_ns"],
            }
            | completion.lag_values(log, probes),
        )
        if lost:
            record["status"] = "failed"
            record["error"] = f"{lost} of {len(intended)} tasks did not complete within the drain timeout"
        p99 = to_start.get_value_at_percentile(99) if to_start.get_total_count() else float("inf")
        if lost or p99 > 20 * bound_ns:
            break  # far beyond saturation: higher rates only take longer to drain and say nothing new


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return len(preset.latency_rates) * (preset.latency_duration_s + 1.0)


#: How it is measured, for the report's Method section (``{key}``: the run's preset value of that key).
METHOD = (
    "An open-loop producer sends noop tasks at each fixed offered rate ({latency_rates} tasks/s) for "
    "{latency_duration_s:g} s on a schedule fixed in advance, with {default_processes} worker processes "
    "running. Latency is measured from each task's intended send time (not the actual send) to its start and "
    "finish, so a backend that slows the producer cannot hide its queueing (coordinated omission corrected); "
    "the producer's worst lateness is recorded too. Each rate has a state: sustained (sent/s at least 90 % of the "
    "offered rate, completed/s at least 90 % of sent/s, p99 to start within {latency_bound_ms:g} ms, nothing "
    "lost); over the latency bound (completions kept up, p99 above the bound); saturated (the producer could not "
    "send on schedule, or completions fell behind the send rate); tasks lost. completed/s is the recorded "
    "completion rate, or where a record has none a lower bound: completions ÷ (intended send span + spread of "
    "the to-finish latencies). The maximum sustainable rate is the highest offered rate with every rate up to it "
    "sustained. The headline compares p99 to start with the floor's at the same rate. Higher rates are "
    "skipped once a rate is far beyond saturation (a lost task or p99 above 20 × the bound)."
)


SCENARIO = Scenario(
    name="latency",
    description="open-loop noop producer at fixed offered rates; latency from the intended send time "
    "(coordinated omission corrected) to task start, finish and confirmed completion",
    run=run,
    estimate=estimate_s,
    preset_keys=("latency_rates", "latency_duration_s", "latency_bound_ms", "drain_timeout_s"),
    method=METHOD,
    section="bench.report.sections.latency",
    derived=(
        "bench.report.derived.rate_states",
        "bench.report.derived.max_sustainable",
        "bench.report.derived.sustainable_text",
    ),
)
