"""Retry and fault scenarios: what each backend really does when tasks fail, workers die and Redis goes away.

Everything is measured, nothing assumed. The attempts of a task are its ``S``/``E``/``F`` events on the measurement
channel (which survives a worker SIGKILL and a Redis outage); where an unfinished task is held comes from the
backend's own answer (``locate`` in its queue module, ``bench/contract.py``). Each fault first *arranges* a state
and *proves* it (``workload.arm``): a gated long task in every worker process, short tasks waiting behind them,
delayed tasks, tasks between a failed attempt and their retry. A fault whose premise did not hold is recorded as
``premise_not_met`` and never ranked. After the fault every task gets one outcome (``outcomes``): completed,
duplicated, stranded (held where the library would still run it from, with when), failed, or gone.

Timeouts are shortened only through configuration (the ``safe`` profile with ``SHOP_FAST_FAULTS=1``), never by
patching a library.

Layout: ``session.py`` (the small interface a scenario uses), ``outcomes.py`` (pure classification),
``workload.py`` (arming and premise), ``kinds.py`` (worker and Redis faults), ``retries.py`` (retry scenario).
"""

from __future__ import annotations

from bench.faults.kinds import run_faults
from bench.faults.retries import run_retries

__all__ = ["run_faults", "run_retries"]
