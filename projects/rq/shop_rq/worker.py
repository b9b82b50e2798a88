"""The RQ worker the shop runs: ``rq.Worker`` plus the measurement channel's confirmed-done event.

RQ's ``on_success`` callback runs *before* the worker stores the result (``Worker._finalize_success`` calls it, then
``handle_job_success``), so it cannot say "RQ counts this job done". ``handle_job_success`` is where the work horse
writes the result, the FINISHED status and the FinishedJobRegistry entry in one Redis transaction; the ``C`` event is
written right after it returns. django-rq's documented ``RQ['WORKER_CLASS']`` setting selects this class.
"""

from __future__ import annotations

import importlib
from typing import Any

from rq import Worker

from shop.channel import CONFIRMED, write_event


class ConfirmingWorker(Worker):
    """``rq.Worker`` that writes ``C <probe>`` once a job's success is stored in Redis."""

    def handle_job_success(self, job: Any, queue: Any, started_job_registry: Any, execution: Any) -> None:
        """Store the success as RQ does, then confirm it on the channel."""
        super().handle_job_success(job, queue, started_job_registry, execution)
        probe = (job.kwargs or {}).get("probe")
        if isinstance(probe, str):
            write_event(CONFIRMED, probe)


class PreloadingWorker(ConfirmingWorker):
    """:class:`ConfirmingWorker` that imports the shop's jobs module before it forks any work horse (tuned profile).

    RQ's docs, Workers, *Performance notes*: the worker is a fetch-fork-execute loop, so every work horse imports the
    job's modules anew; "one way to improve performance is to preload the necessary modules before forking", which
    RQ leaves to a custom worker.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        importlib.import_module("shop_rq.tasks")
        super().__init__(*args, **kwargs)
