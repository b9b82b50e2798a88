"""The shop's task bodies as Dramatiq actors, each run inside ``shop.tracking.tracked``.

Dramatiq's Retries middleware retries *every* failing actor by default (max_retries=20, exponential back-off from
15 s with jitter). The shop's policy (up to 3 retries, 1 s apart) is written with actor options:

* ``max_retries=3`` (``retry_when`` for send_invoice_email, which only retries SMTP/connection errors);
* ``min_backoff=1000, max_backoff=2000``: dramatiq.common.compute_backoff gives ``min_backoff * 2**retries *
  uniform(1, 2)`` and, above ``max_backoff``, ``max_backoff * uniform(0.5, 1)``, so every retry waits a uniformly
  random 1-2 s. Jitter cannot be turned off through options; this is the closest Dramatiq gets to "1 s" without
  going *under* it (max_backoff=1000 would give 0.5-1 s).

Actors without options keep Dramatiq's default retries (that is what Dramatiq users get): flaky_default shows them;
noop and sleep never raise; build_sales_report keeps them. import_products declares ``throws=(ImportRejected,)``:
a rejected file is a final outcome, and ``throws`` is Dramatiq's documented way to say "do not retry this".
"""

from __future__ import annotations

from typing import Any

import dramatiq

from shop import jobs
from shop.tracking import tracked

MAX_RETRIES = jobs.MAX_RETRIES
#: Retry back-off bounds in milliseconds (see the module docstring: every retry waits 1-2 s).
MIN_BACKOFF_MS = int(jobs.RETRY_DELAY_S * 1000)
MAX_BACKOFF_MS = 2 * MIN_BACKOFF_MS


def retry_smtp_errors(retries: int, exc: BaseException) -> bool:
    """``retry_when`` of send_invoice_email: up to 3 retries, SMTP and connection errors only."""
    return retries < MAX_RETRIES and isinstance(exc, jobs.RETRYABLE_EMAIL_ERRORS)


@dramatiq.actor(
    max_retries=MAX_RETRIES, retry_when=retry_smtp_errors, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS
)
def send_invoice_email(order_id: int, probe: str | None = None) -> dict[str, Any]:
    """Send the invoice of an order; retried on SMTP/connection errors."""
    with tracked("send_invoice_email", probe):
        return jobs.send_invoice_email(order_id)


@dramatiq.actor(throws=(jobs.ImportRejected,))
def import_products(import_id: int, probe: str | None = None) -> dict[str, Any]:
    """Import an uploaded product CSV; a rejected file is final (``throws``)."""
    with tracked("import_products", probe):
        return jobs.import_products(import_id)


@dramatiq.actor
def build_sales_report(start: str, end: str, probe: str | None = None) -> dict[str, Any]:
    """Build the sales report of a date range."""
    with tracked("build_sales_report", probe):
        return jobs.build_sales_report(start, end)


@dramatiq.actor
def noop(probe: str | None = None) -> None:
    """Do nothing: the queue's own cost."""
    with tracked("noop", probe):
        jobs.noop()


@dramatiq.actor
def sleep(seconds: float, gate: str | None = None, probe: str | None = None) -> None:
    """Sleep (until ``gate`` opens, at most ``seconds``): a long task for the fault scenarios."""
    with tracked("sleep", probe):
        jobs.sleep(seconds, gate)


@dramatiq.actor
def flaky_default(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; Dramatiq's default retries (20, back-off from 15 s)."""
    with tracked("flaky_default", probe):
        return jobs.flaky(key, fail_times)


@dramatiq.actor(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS)
def flaky_retry(key: str, fail_times: int, probe: str | None = None) -> int:
    """Fail ``fail_times`` times; the shop's retry policy."""
    with tracked("flaky_retry", probe):
        return jobs.flaky(key, fail_times)
