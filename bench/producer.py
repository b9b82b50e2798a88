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

from bench.agent import command as agent_command

now_ns = time.monotonic_ns  # CLOCK_MONOTONIC on Linux: the channel's clock

#: HDR histogram range: 1 ns .. 1 h, 3 significant digits (bench.stats uses the same).
HIST_RANGE = (1, 3_600_000_000_000, 3)

Enqueue = Callable[..., object]

#: The ways ``cmd_enqueue_in_transaction`` enqueues inside a database transaction.
TRANSACTION_MODES = ("commit_late", "rollback", "on_commit_late", "on_commit_rollback")


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
        #: probe → the library's task id, for tasks enqueued with ``produce_tracked`` or ``produce_delayed``.
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
        ids = []
        for i in range(count):
            probe = f"{prefix}{i}"
            ids.append(module.enqueue_delayed(task, delay_s, probe=probe))
            self.task_ids[probe] = ids[-1]
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

    def cmd_locate(self, probes: list[str]) -> dict[str, Any]:
        """``{probe: Location}``: where each task is now, as the backend's ``locate`` reads its library's structures.

        Only tasks whose ids this producer kept (``produce_tracked``, ``produce_delayed``) can be located; any other
        probe is ``unknown``, saying so. One ``locate`` call for all ids (it batches its reads).
        """
        module = importlib.import_module(os.environ["BENCH_QUEUE_MODULE"])
        kept = {probe: self.task_ids[probe] for probe in probes if probe in self.task_ids}
        found = module.locate(list(dict.fromkeys(kept.values()))) if kept else {}
        missing = {
            "where": "unknown",
            "detail": "no task id kept for this probe (not enqueued with produce_tracked/produce_delayed)",
            "returns_in_s": None,
            "rule": "",
        }
        return {probe: found[kept[probe]] if probe in kept else missing for probe in probes}

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

    def cmd_enqueue_in_transaction(self, mode: str, prefix: str, hold_s: float, seed: int = 0) -> dict[str, Any]:
        """Enqueue ``send_invoice_email`` for an order created in the same database transaction, as a view under
        ``ATOMIC_REQUESTS`` or a service function inside ``atomic()`` does.

        ``mode``: ``commit_late`` (enqueue, then commit ``hold_s`` later), ``rollback`` (enqueue, then roll back after
        ``hold_s``), ``on_commit_late`` / ``on_commit_rollback`` (the same, with the enqueue deferred by Django's
        ``transaction.on_commit``, which is what Celery's ``delay_on_commit`` does). Returns the channel-clock times
        of the enqueue (absent when it never happened) and of the end of the transaction.
        """
        from django.db import transaction

        from bench import workloads

        if mode not in TRANSACTION_MODES:
            raise ValueError(f"unknown transaction mode {mode!r}; valid: {', '.join(TRANSACTION_MODES)}")
        enqueue = self.enqueuers["send_invoice_email"]
        probe = f"{prefix}0"
        times: dict[str, int] = {}

        def send(order_id: int) -> None:
            times["enqueued_ns"] = now_ns()
            enqueue(order_id, probe=probe)

        class Rollback(Exception):
            pass

        order_id = None
        try:
            with transaction.atomic():
                [[order_id]] = workloads.invoice_orders(1, seed)
                if mode.startswith("on_commit"):
                    transaction.on_commit(lambda: send(order_id))
                else:
                    send(order_id)
                time.sleep(hold_s)
                times["transaction_end_ns"] = now_ns()
                if mode.endswith("rollback"):
                    raise Rollback
        except Rollback:
            pass
        return {"order_id": order_id, "probe": probe, "committed": not mode.endswith("rollback"), **times}

    def cmd_ping(self) -> dict[str, Any]:
        """Liveness check; also reports the clock so the harness can check it shares it."""
        return {"pong": True, "now_ns": now_ns(), "pid": os.getpid()}


# --------------------------------------------------------------------------------------------------------------------
# Agent commands (``python -m bench.agent <name>``): the backend contract, checked inside the backend's environment
# --------------------------------------------------------------------------------------------------------------------


@agent_command("contract")
def agent_contract(task_ids: list[str] | None = None) -> dict[str, Any]:
    """Check the backend's queue module against :class:`bench.contract.QueueModule` and its ``locate`` answers.

    Imports the module named by ``BENCH_QUEUE_MODULE`` (default: ``<DJANGO_SETTINGS_MODULE package>.queue``); fails
    (raises) when the module lacks a member of the Protocol or an answer is not a well-formed ``Location``; returns
    the answers for ``task_ids`` (default: one id that cannot exist) so a caller can check them against reality.
    """
    from bench.contract import QueueModule, check_location

    module = importlib.import_module(_queue_module_name())
    if not isinstance(module, QueueModule):
        members = ("ENQUEUE", "enqueue", "enqueue_delayed", "describe_failures", "locate")
        lacking = [name for name in members if not hasattr(module, name)]
        raise TypeError(f"{module.__name__} is not a QueueModule; it lacks {lacking}")
    ids = list(task_ids) if task_ids is not None else ["no-such-task-00000000"]
    answers = module.locate(ids)
    if not isinstance(answers, dict) or set(answers) != set(ids):
        raise ValueError(f"locate({ids!r}) must answer one Location per id, got {answers!r}")
    for task_id in ids:
        check_location(answers[task_id])
    return {"module": module.__name__, "tasks": sorted(module.ENQUEUE), "locations": answers}


@agent_command("enqueue_delayed")
def agent_enqueue_delayed(task: str, delay_s: float, args: list[Any] | None = None, probe: str | None = None) -> dict:
    """Enqueue one task ``delay_s`` seconds from now with the backend's own delayed call; returns its id."""
    module = importlib.import_module(_queue_module_name())
    return {"task_id": module.enqueue_delayed(task, delay_s, *(args or []), probe=probe)}


@agent_command("locate")
def agent_locate(task_ids: list[str]) -> dict[str, Any]:
    """The backend's ``locate(task_ids)``: ``{id: Location}``."""
    return importlib.import_module(_queue_module_name()).locate(list(task_ids))


def _queue_module_name() -> str:
    """The backend's queue module: ``BENCH_QUEUE_MODULE``, else ``<settings package>.queue`` (the contract's place)."""
    if os.environ.get("BENCH_QUEUE_MODULE"):
        return os.environ["BENCH_QUEUE_MODULE"]
    return os.environ["DJANGO_SETTINGS_MODULE"].rsplit(".", 1)[0] + ".queue"


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
