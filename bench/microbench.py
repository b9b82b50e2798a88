"""pytest-benchmark microbenchmark of one enqueue call (the noop task), run by the harness per backend.

Run inside a backend's environment (``BENCH_QUEUE_MODULE``, Django settings, a private Redis): the harness
starts ``python -m pytest bench/microbench.py --benchmark-json=…`` and keeps the JSON beside the results.
No worker runs meanwhile; the harness flushes the queue afterwards.
"""

from __future__ import annotations

import itertools

from bench.producer import load_enqueuers


def test_enqueue_noop(benchmark) -> None:  # type: ignore[no-untyped-def]
    """The producer-side cost of enqueuing one noop task with the backend's own call."""
    enqueue = load_enqueuers()["noop"]
    counter = itertools.count()
    benchmark(lambda: enqueue(probe=f"mb-{next(counter)}"))
