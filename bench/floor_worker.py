"""What the floors' workers share (``bench/baseline/``, ``bench/baseline_db/``, ``bench/baseline_amqp/``): N forked
consumer processes that stop after their current task on SIGTERM or SIGINT, and the ``--processes N`` command line.

The parent forwards each stop signal to every consumer and waits for all of them; a consumer loops
``while not stop_requested()``, so a signal never interrupts a task half-way.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
from collections.abc import Callable

_stopping = False


def stop_requested() -> bool:
    """Whether this consumer process received SIGTERM or SIGINT (it finishes its current task, then returns)."""
    return _stopping


def _stop(_signum: int, _frame: object) -> None:
    global _stopping
    _stopping = True


def _consumer(consume: Callable[..., None], args: tuple[object, ...]) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    consume(*args)


def run_consumers(count: int, consume: Callable[..., None], *args: object) -> None:
    """Run ``consume(*args)`` in ``count`` child processes, forward SIGTERM/SIGINT to them, return once all ended."""
    children = [multiprocessing.Process(target=_consumer, args=(consume, args), daemon=True) for _ in range(count)]
    for child in children:
        child.start()

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            if child.pid is not None:
                os.kill(child.pid, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.join()


def floor_main(description: str | None, consume: Callable[[], None]) -> None:
    """A floor worker's command line: ``--processes N`` consumer processes running ``consume()``, waited for."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--processes", type=int, default=1)
    options = parser.parse_args()
    run_consumers(options.processes, consume)
