"""Run the cases of a parametrized test side by side, each test then asserting on its own case's outcome.

The tests that start real workers mostly wait: a worker's start-up, a library's poll interval, a retry delay, a gate
held open. Run one after the other, those waits add up to minutes; the cases share nothing (each gets its own Redis
and directories), so they can wait at the same time. The harness does the same with its fault sessions
(``bench/__main__.py`` runs backends side by side in threads).

Use: a module-scoped fixture ``SideBySide(run)``; a test calls ``cases.outcome(request)``. The first call submits
``run(**params)`` for every case of that test function this session selected (``-k`` and ``-m`` respected), in
:data:`THREADS` threads, in collection order; each call then waits for its own case and returns its result or
re-raises its exception: an assertion's message, ``pytest.xfail`` and ``pytest.skip`` reach the right test id.
What a case prints should be returned and printed by the test, so ``pytest -s`` shows it under the right id.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

import pytest

#: Cases running at once: each starts a worker, a producer and Django boots (CPU) on a 2-core machine that also runs
#: the background smoke run (tests/conftest.py), then mostly waits. Three keep both cores busy without starving it.
THREADS = 3

T = TypeVar("T")


class SideBySide(Generic[T]):
    """``run(**params)`` for every selected case of one test function, :data:`THREADS` at a time."""

    def __init__(self, run: Callable[..., T], threads: int = THREADS) -> None:
        self._run = run
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[T]] = {}

    def outcome(self, request: pytest.FixtureRequest) -> T:
        """This test case's outcome (its exception re-raised), starting every selected case on the first call."""
        node = request.node
        if node.nodeid not in self._futures:
            self._pool = self._pool or ThreadPoolExecutor(self._threads, thread_name_prefix=node.originalname)
            siblings = [
                item
                for item in request.session.items
                if item.parent is node.parent and getattr(item, "originalname", None) == node.originalname
            ]
            for item in siblings:
                if item.nodeid not in self._futures:
                    self._futures[item.nodeid] = self._pool.submit(self._run, **_params(item))
        return self._futures[node.nodeid].result()

    def close(self) -> None:
        """Cancel what has not started (the session was cut short) and wait for the running cases to end."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> SideBySide[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _params(item: pytest.Item) -> dict[str, Any]:
    callspec = getattr(item, "callspec", None)
    return dict(callspec.params) if callspec is not None else {}
