"""The io profile on a real worker: with the SMTP hop 40 ms away, a threaded worker has several emails in flight.

On PostgreSQL: the task locks its order row only, where SQLite's IMMEDIATE transaction serialises every writer, and
the email is sent inside that transaction, so on SQLite the emails go one at a time whatever the worker (seen: 24
deliveries 280 ms apart with 16 threads). Proved from the SMTP sink's own timestamps: every delivery ends a
conversation of at least :data:`MIN_CONVERSATION_RTTS` round trips (banner, EHLO, MAIL, RCPT, DATA, the message), so
deliveries closer together than that many round trips came from conversations that were open at the same time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.agent import run_agent
from bench.backends import IO_THREADS, get_backend
from bench.channel_wait import ChannelWatcher
from bench.runner import ProducerClient
from bench.services import ManagedProcess, PostgresServer, RedisServer, postgres_available
from bench.services.process import LOOPBACK
from bench.services.proxy import DelayProxy
from bench.services.smtp import SmtpSink

REPO = Path(__file__).resolve().parent.parent
SMTP_RTT_MS = 40.0
#: Round trips an SMTP conversation needs before its message is delivered, at least (smtplib: banner, EHLO, MAIL
#: FROM, RCPT TO, DATA, end of data).
MIN_CONVERSATION_RTTS = 5
EMAILS = 24


def most_within(times: list[float], span: float) -> int:
    """The most of ``times`` (sorted) that fall inside any interval of length ``span``."""
    best, first = 0, 0
    for last, t in enumerate(times):
        while t - times[first] >= span:
            first += 1
        best = max(best, last - first + 1)
    return best


@pytest.mark.unit
def test_most_within_counts_a_sliding_window() -> None:
    assert most_within([0.0, 0.1, 0.15, 1.0], 0.2) == 3
    assert most_within([0.0, 1.0, 2.0], 0.5) == 1


@pytest.mark.parametrize("backend_name", ["dramatiq"])
def test_a_threaded_worker_has_several_emails_in_flight(
    backend_name: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    if (missing := postgres_available()) is not None:
        pytest.skip(missing)
    backend = get_backend(backend_name)
    redis_server.flushall()
    for sub in ("var", "channel", "logs"):
        (tmp_path / sub).mkdir()
    with (
        PostgresServer() as postgres,
        SmtpSink(tmp_path / "mail" / "maildir") as sink,
        DelayProxy({"smtp": (LOOPBACK, sink.port, SMTP_RTT_MS)}, log_path=tmp_path / "logs" / "proxy.log") as proxy,
    ):
        env = backend.environment(
            redis_url=redis_server.url,
            var_dir=tmp_path / "var",
            smtp_port=proxy.port("smtp"),
            channel_dir=tmp_path / "channel",
            profile="io",
            database_url=postgres.database_url(f"{backend.name}_io"),
        )
        env["BENCH_QUEUE_MODULE"] = backend.queue_module
        run_agent(backend, env, "prepare", {"demo": True})
        producer = ProducerClient(env, REPO, tmp_path / "logs" / "producer.log")
        # One process: its threads alone must overlap the conversations.
        worker = ManagedProcess(
            backend.worker_argv(1, "io"),
            env=env | backend.worker_env(1),
            cwd=backend.project_dir,
            log_path=tmp_path / "logs" / "worker.log",
            name=f"{backend.name}-worker",
        ).start()
        try:
            args = producer.call("prepare_args", task="send_invoice_email", count=EMAILS, seed=1)["args"]
            producer.call("produce", task="send_invoice_email", args=args, prefix="io-")
            watcher = ChannelWatcher(str(tmp_path / "channel"))
            probes = [f"io-{i}" for i in range(EMAILS)]
            assert watcher.wait_finished(probes, timeout_s=60, alive=worker.alive), worker.log_tail(20)
            sink.wait_for(EMAILS, timeout=10)
            delivered = sink.delivery_times()
        finally:
            worker.stop()
            producer.close()
    conversation_s = MIN_CONVERSATION_RTTS * SMTP_RTT_MS / 1000
    overlapping = most_within(delivered, conversation_s)
    # Serially the deliveries would be >= 200 ms apart; with IO_THREADS threads many land within one conversation.
    assert overlapping > 1, f"deliveries at {delivered}: never two within {conversation_s:.2f} s"
    assert overlapping >= min(EMAILS, IO_THREADS) // 4, (overlapping, delivered)
