"""The producer side of every scenario, run inside one backend's environment.

``python -m bench.producer`` is started by the harness once per session with the backend's environment (its
Django settings, broker URL, channel directory). It reads one JSON command per line on stdin and answers one JSON
line on stdout, so Django and the queue library are imported once and the producer stays warm, as a web process
would be. Timestamps use ``CLOCK_MONOTONIC`` nanoseconds, the clock of the measurement channel.

Every enqueue goes through the backend's own idiomatic call (``ENQUEUE`` in its ``queue`` module): ``.delay``,
``.send``, calling a Huey task, ``async_task``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from hdrh.histogram import HdrHistogram

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC on Linux: the channel's clock

#: HDR histogram range: 1 ns .. 1 h, 3 significant digits (bench.stats uses the same).
HIST_RANGE = (1, 3_600_000_000_000, 3)

Enqueue = Callable[..., object]


def load_enqueuers() -> dict[str, Enqueue]:
    """The backend's task name → enqueue callable mapping (its ``queue.ENQUEUE``)."""
    module_name = os.environ["BENCH_QUEUE_MODULE"]
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        import django

        django.setup()
    return dict(importlib.import_module(module_name).ENQUEUE)


class Producer:
    """Command handlers; each returns a JSON-serialisable dict."""

    def __init__(self, enqueuers: dict[str, Enqueue]) -> None:
        self.enqueuers = enqueuers
        #: probe → the library's task id, for tasks enqueued with ``produce_tracked``.
        self.task_ids: dict[str, str] = {}

    # -- workload preparation -------------------------------------------------------------------------------
    def cmd_prepare_args(self, task: str, count: int, import_rows: int = 200, seed: int = 0) -> dict[str, Any]:
        """Realistic arguments for ``count`` calls of a shop task (fresh orders, stored CSV imports, periods)."""
        from bench import workloads  # needs Django: only for backends that run the shop

        return {"args": workloads.task_arguments(task, count, import_rows=import_rows, seed=seed)}

    def cmd_sample_args(self, task: str, count: int) -> dict[str, Any]:
        """Arguments for enqueue-only measurements: realistic shapes, existing rows reused (never executed)."""
        from bench import workloads

        return {"args": workloads.sample_arguments(task, count)}

    # -- scenarios ----------------------------------------------------------------------------------------------
    def cmd_enqueue_latency(self, task: str, args: list[list[Any]], prefix: str, warmup: int = 100) -> dict[str, Any]:
        """Time each enqueue call alone (perf counter around the library call) into an HDR histogram."""
        enqueue = self.enqueuers[task]
        hist = HdrHistogram(*HIST_RANGE)
        clock = time.perf_counter_ns
        n = len(args)
        for i in range(min(warmup, n)):
            enqueue(*args[i], probe=f"{prefix}w{i}")
        for i, call_args in enumerate(args):
            probe = f"{prefix}{i}"
            t0 = clock()
            enqueue(*call_args, probe=probe)
            hist.record_value(max(1, clock() - t0))
        return {"histogram": hist.encode().decode("ascii"), "count": n}

    def cmd_produce(self, task: str, args: list[list[Any]], prefix: str) -> dict[str, Any]:
        """Enqueue as fast as possible (workers may be consuming meanwhile); return the enqueue window."""
        enqueue = self.enqueuers[task]
        first = now_ns()
        for i, call_args in enumerate(args):
            enqueue(*call_args, probe=f"{prefix}{i}")
        return {"first_ns": first, "last_ns": now_ns(), "count": len(args)}

    def cmd_open_loop(self, task: str, rate: float, duration_s: float, prefix: str) -> dict[str, Any]:
        """Send at a fixed offered rate on a schedule fixed in advance (open loop).

        The schedule, not the actual send time, is returned: latency is measured from the *intended* send time so
        that a producer held up by a slow enqueue cannot hide queueing delay (coordinated omission).
        """
        enqueue = self.enqueuers[task]
        count = max(1, round(rate * duration_s))
        interval = 1e9 / rate
        start = now_ns() + 50_000_000  # a short lead so the first send is on schedule too
        intended = [start + round(i * interval) for i in range(count)]
        late_max = 0
        for i, due in enumerate(intended):
            delay = due - now_ns()
            if delay > 2_000_000:
                time.sleep((delay - 1_000_000) / 1e9)
            while now_ns() < due:  # spin the last millisecond: sleep() is too coarse for 1,000+/s
                pass
            enqueue(probe=f"{prefix}{i}")
            late_max = max(late_max, now_ns() - due)
        end = now_ns()
        return {
            "intended_ns": intended,
            "count": count,
            "send_window_ns": end - start,
            "achieved_rate": count / max(1e-9, (end - start) / 1e9),
            "max_send_lag_ns": late_max,
        }

    def cmd_single(self, task: str, prefix: str) -> dict[str, Any]:
        """One enqueue; returns the time just before the call (for idle pickup latency)."""
        t0 = now_ns()
        self.enqueuers[task](probe=f"{prefix}0")
        return {"sent_ns": t0}

    def cmd_channel_overhead(self, events: int = 100_000) -> dict[str, Any]:
        """Cost of one channel event write, measured in this process with the workers' code path."""
        from shop import channel

        hist = HdrHistogram(*HIST_RANGE)
        clock = time.perf_counter_ns
        for i in range(events):
            t0 = clock()
            channel.write_event(channel.STARTED, f"overhead-{i}")
            hist.record_value(max(1, clock() - t0))
        return {"histogram": hist.encode().decode("ascii"), "count": events}

    # -- fault scenarios -------------------------------------------------------------------------------------------
    def cmd_produce_delayed(self, task: str, delay_s: float, count: int, prefix: str) -> dict[str, Any]:
        """Enqueue ``count`` tasks to run ``delay_s`` from now with the backend's own delayed call."""
        module = importlib.import_module(os.environ["BENCH_QUEUE_MODULE"])
        ids = [module.enqueue_delayed(task, delay_s, probe=f"{prefix}{i}") for i in range(count)]
        return {"ids": ids}

    def cmd_produce_tracked(self, task: str, args: list[list[Any]], prefix: str) -> dict[str, Any]:
        """Like ``produce`` but through the backend's ``enqueue()``, keeping each task's library id by probe."""
        module = importlib.import_module(os.environ["BENCH_QUEUE_MODULE"])
        for i, call_args in enumerate(args):
            probe = f"{prefix}{i}"
            self.task_ids[probe] = module.enqueue(task, *call_args, probe=probe)
        return {"count": len(args)}

    def cmd_failure_visibility(self, probes: list[str]) -> dict[str, Any]:
        """Where the backend itself records the failure of these exhausted tasks (its ``describe_failures``)."""
        module = importlib.import_module(os.environ["BENCH_QUEUE_MODULE"])
        ids = [self.task_ids[p] for p in probes if p in self.task_ids]
        if not ids:
            return {"visible": None, "where": "not checked", "detail": "tasks were not enqueued with their ids kept"}
        return module.describe_failures(ids)

    def cmd_enqueue_while_down(self, task: str, timeout_s: float) -> dict[str, Any]:
        """One enqueue while the broker is down, and the shop's own ``submit`` (what a view does), each timed.

        Each call runs in a thread so that a call that blocks for ever is reported as blocking, not a hung run.
        """
        enqueue = self.enqueuers[task]
        answer = _timed_call(lambda: enqueue(probe="down-0"), timeout_s)
        if os.environ.get("DJANGO_SETTINGS_MODULE"):
            from shop import queue as shop_queue

            view = _timed_call(lambda: shop_queue.submit(task), timeout_s)
            outcome = view.get("result")
            if outcome is not None:
                outcome = {"state": outcome.state, "error": (outcome.error or "")[:300]}
            answer["view_seconds"] = view["seconds"]
            answer["view_outcome"] = outcome if outcome is not None else view.get("exception")
        answer.pop("result", None)
        return answer

    def cmd_purge(self) -> dict[str, Any]:
        """Empty a database-backed queue through its queue module's ``purge()`` (a Redis flush does not reach it)."""
        module = importlib.import_module(os.environ["BENCH_QUEUE_MODULE"])
        return {"deleted": module.purge()}

    def cmd_ping(self) -> dict[str, Any]:
        """Liveness check; also reports the clock so the harness can check it shares it."""
        return {"pong": True, "now_ns": now_ns(), "pid": os.getpid()}


def _timed_call(fn: Callable[[], object], timeout_s: float) -> dict[str, Any]:
    """Run ``fn`` in a daemon thread: its result or exception, how long it took, or that it still blocks."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["exception"] = type(exc).__module__ + "." + type(exc).__qualname__
            box["message"] = str(exc)[:300]

    t0 = now_ns()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_s)
    seconds = (now_ns() - t0) / 1e9
    blocked = thread.is_alive()
    return {
        "seconds": seconds,
        "blocked": blocked,
        "raised": "exception" in box,
        "exception": box.get("exception"),
        "message": box.get("message"),
        "result": box.get("result"),
    }


def serve(stdin: Any = sys.stdin, stdout: Any = sys.stdout) -> None:
    """Answer JSON-line commands until stdin closes; an exception becomes ``{"error": ...}``, not a crash."""
    producer = Producer(load_enqueuers())
    print(json.dumps({"ready": True, "pid": os.getpid()}), file=stdout, flush=True)
    for line in stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            handler = getattr(producer, "cmd_" + request.pop("cmd"))
            answer = handler(**request)
        except Exception as exc:  # report to the harness, which records the failure
            answer = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        print(json.dumps(answer), file=stdout, flush=True)


if __name__ == "__main__":
    serve()
