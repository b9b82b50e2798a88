"""IO-bound throughput: ``send_invoice_email`` confirmed done per second while its SMTP hop is a delayed round trip.

With the SMTP server tens of milliseconds away (``--network lan``: 40 ms), an invoice email is mostly waiting, as in
production; how many of them a worker tree finishes per second then depends on its concurrency model (the ``io``
profile: threads, or more processes) more than on its CPU cost. Measured like the throughput scenario's shop tasks
(a window sized to last the steady window, produced while the workers consume), with the worker tree's memory sampled
meanwhile and the tasks in flight counted from the channel. Its premise: the SMTP round trip the session really had,
measured through the proxy with a raw ``NOOP`` loop beside a direct one, within
:data:`bench.network.RTT_TOLERANCE` of the nominal one.
"""

from __future__ import annotations

import smtplib
import statistics
import time
from typing import Any

from bench import completion
from bench.errors import BenchError
from bench.network import RTT_TOLERANCE
from bench.scenarios import throughput
from bench.scenarios.estimate import SETTLE_S, START_S
from bench.scenarios.preset import Preset
from bench.scenarios.session import ScenarioSession
from bench.services.process import LOOPBACK

TASK = "send_invoice_email"
#: Tasks that first estimate the rate (not recorded): enough to fill every thread of a 2 x 16 worker tree twice.
CALIBRATION_TASKS = 64
#: ``NOOP`` round trips timed per path (direct, proxied) on one SMTP connection: ~0.8 s at 40 ms.
SMTP_PROBES = 20


def _noop_times(port: int, host: str = LOOPBACK) -> list[int]:
    """Nanoseconds of each of :data:`SMTP_PROBES` ``NOOP`` commands on one SMTP connection to ``host:port``."""
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        smtp.ehlo()
        times = []
        for _ in range(SMTP_PROBES):
            started = time.perf_counter_ns()
            smtp.noop()
            times.append(time.perf_counter_ns() - started)
    return times


def measure_smtp_rtt(session: ScenarioSession) -> dict[str, float]:
    """The SMTP round trip through the session's proxy and direct (``NOOP`` p50, ms), and the p50 the proxy added."""
    assert session.path is not None
    direct_port = session.path.proxy.upstreams["smtp"][1]
    direct = statistics.median(_noop_times(direct_port)) / 1e6
    path = session.path
    proxied = statistics.median(path.on_app(lambda: _noop_times(path.smtp_port, path.smtp_host))) / 1e6
    return {"direct_p50_ms": round(direct, 3), "p50_ms": round(proxied, 3), "added_p50_ms": round(proxied - direct, 3)}


def peak_in_flight(session: ScenarioSession, probes: list[str]) -> int:
    """The most attempts of ``probes`` running at once (channel S/F events; an attempt that raised ends at its E)."""
    log = session.watcher.log
    edges: list[tuple[int, int]] = []
    for probe in probes:
        edges += [(t, 1) for t in log.starts.get(probe, ())]
        edges += [(t, -1) for t in (*log.finishes.get(probe, ()), *log.errors.get(probe, ()))]
    running = peak = 0
    for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
        running += step
        peak = max(peak, running)
    return peak


def _p50(values: list[int]) -> int | None:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] if ordered else None


def run(session: ScenarioSession) -> None:
    """The SMTP hop's measured round trip, then :data:`TASK` produced while the workers consume, in a window sized
    from :data:`CALIBRATION_TASKS` to last the steady window; memory sampled, tasks in flight counted."""
    if session.path is None:
        raise BenchError("io_bound needs a proxied network with a delayed SMTP hop (--network lan, az, rtt=…)")
    nominal_ms = session.path.proxy.upstreams["smtp"][2]
    smtp_rtt = measure_smtp_rtt(session) | {"nominal_ms": nominal_ms}
    session.ensure_workers()
    probes = throughput.produce_task(session, TASK, CALIBRATION_TASKS, "iocal")
    session.drain(probes)
    log = session.watcher.log
    done = completion.done_times(log, probes, session.completion or completion.BODY)
    starts = completion.first_times(log.starts, probes)
    rate = len(done) * 1e9 / (done[-1] - starts[0]) if done and starts and done[-1] > starts[0] else None
    params = {"task": TASK, "processes": session.processes, "mode": "concurrent"}

    def measure(n: int, attempt: int, capped: bool) -> tuple[dict[str, Any], list[int]]:
        session.progress(f"{session.label}: {n} x {TASK} at SMTP {nominal_ms:g} ms (attempt {attempt})")
        window = throughput.produce_task(session, TASK, n, "io-")
        load = throughput.drain_sampling(session, window)
        in_flight = peak_in_flight(session, window)
        rss_p50, pss_p50 = _p50(load["rss"]), _p50(load["pss"])
        extra = {
            "smtp_rtt": smtp_rtt,
            "peak_in_flight": in_flight,
            "rss_p50_bytes": rss_p50,
            "rss_per_task_in_flight_bytes": rss_p50 // in_flight if rss_p50 and in_flight else None,
            # PSS shares the pages forked processes have in common among them: RSS counts them in every process.
            "pss_p50_bytes": pss_p50,
            "pss_per_task_in_flight_bytes": pss_p50 // in_flight if pss_p50 and in_flight else None,
            "cpu_s": round(load["cpu_s"], 3),
        }
        record = throughput.throughput_record(
            session, window, params, attempts=attempt, capped=capped, extra=extra, scenario="io_bound"
        )
        record["samples"]["rss_bytes"] = load["rss"]
        added = smtp_rtt["added_p50_ms"]
        if record["status"] == "ok" and abs(added - nominal_ms) > RTT_TOLERANCE * nominal_ms:
            record["status"] = "premise_not_met"
            record["error"] = f"the SMTP hop added {added:.1f} ms per round trip, not {nominal_ms:g} ms"
        return record, completion.done_times(session.watcher.log, window, session.completion or completion.BODY)

    key = throughput.rate_key(session, TASK, "io_bound")
    throughput.sized_windows(session, key, session.rates.get(key) or rate or throughput.DEFAULT_RATE, measure)


def estimate_s(preset: Preset, processes: int, tasks: tuple[str, ...]) -> float:
    """Rough duration in one session, for the progress display's ETA."""
    window = preset.throughput_warmup_s + preset.throughput_steady_s + 2 * SETTLE_S
    return START_S + 2.0 + CALIBRATION_TASKS * 0.3 / processes + window * 1.5
