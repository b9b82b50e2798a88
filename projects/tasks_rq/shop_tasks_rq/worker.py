"""The RQ worker of the tuned profile: ``rq.Worker`` that imports the shop's tasks module before it forks.

RQ's docs, Workers, *Performance notes*: the worker is a fetch-fork-execute loop, so every work horse imports the
job's modules anew; "one way to improve performance is to preload the necessary modules before forking", which RQ
leaves to a custom worker. The same advice as the ``rq`` project's tuned profile, so the two differ only by the
``django.tasks`` layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from rq import Worker


class PreloadingWorker(Worker):
    """``rq.Worker`` that imports ``shop.dtasks.tasks`` once, in the worker, before any work horse is forked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        importlib.import_module("shop.dtasks.tasks")
        super().__init__(*args, **kwargs)
