"""Latency under load: an open-loop noop producer at fixed offered rates, latency from each intended send time."""

from __future__ import annotations

from typing import Any

from bench import completion, stats
from bench.report import derived
from bench.results import Record
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession


def run(session: ScenarioSession) -> None:
    """Open-loop noop producer at each offered rate; stops going higher after the first saturated rate.

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
        reason = ladder_stop(record, bound_ns)
        if reason is not None:
            record.setdefault("notes", {})["ladder_stopped"] = reason
            break


#: p99 to start above this many times the latency bound also ends the ladder (queueing grew though it drained).
FAR_BEYOND_BOUND = 20


def ladder_stop(record: dict[str, Any], bound_ns: float) -> str | None:
    """Why no higher rate is worth sending after this latency record, or None to go on.

    A rate that lost tasks, or is saturated as the report judges it (:func:`bench.report.derived.rate_states`: sent
    below 90 % of the offered rate, or completed/s below 90 % of sent/s), ends the ladder: the maximum sustainable
    rate needs every lower rate sustained, so a higher rate cannot change it, and it would only queue more tasks to
    drain (a backend whose confirmations lag spent over half its session draining them). So does p99 to start above
    :data:`FAR_BEYOND_BOUND` x the bound.
    """
    states = derived.rate_states([Record.from_dict(record)], bound_ns)
    if not states or states[0].state == derived.LOST:
        return derived.LOST
    if states[0].state == derived.SATURATED:
        return derived.SATURATED
    if states[0].p99 > FAR_BEYOND_BOUND * bound_ns:
        return f"p99 to start above {FAR_BEYOND_BOUND} x the bound"
    return None


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    return len(preset.latency_rates) * (preset.latency_duration_s + 1.0)
