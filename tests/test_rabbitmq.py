"""The private RabbitMQ node: starts beside the machine's own, answers AMQP, and leaves nothing behind (stop, crash,
a SIGTERMed or SIGKILLed harness); ``--amqp-url`` to an unreachable broker is one line and exit 2."""

from __future__ import annotations

import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from bench.__main__ import parse_args
from bench.errors import ServiceError, UsageError
from bench.services import LOOPBACK, ExternalRabbitMQ, RabbitMQServer, free_port, rabbitmq_available
from bench.services.rabbitmq import amqp_connection

from .test_services import _alive, gone, kill_harness, require_service


def _require_rabbitmq() -> None:
    require_service(rabbitmq_available())


@pytest.fixture(scope="module")
def rabbitmq() -> Iterator[RabbitMQServer]:
    """One private node for the tests of this module that only use it."""
    _require_rabbitmq()
    with RabbitMQServer(consumer_timeout_ms=60_000) as server:
        yield server


def _node_processes(node_name: str, base_dir: Path) -> list[int]:
    """Every live process whose command line names this node or its directory (supervisor, VM, epmd)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if (node_name in line or str(base_dir) in line) and _alive(proc.pid):
            found.append(proc.pid)
    return found


def test_private_node_answers_amqp_with_persistent_queues_across_a_restart(rabbitmq: RabbitMQServer) -> None:
    assert rabbitmq.port != 5672 and rabbitmq.version()
    conn = amqp_connection(rabbitmq.url)
    channel = conn.channel()
    channel.queue_declare("bench-test", durable=True, auto_delete=False)
    import amqp

    channel.basic_publish(amqp.Message(b"kept", delivery_mode=2), routing_key="bench-test")
    conn.close()
    rabbitmq.restart()
    conn = amqp_connection(rabbitmq.url)
    channel = conn.channel()
    message = channel.basic_get("bench-test", no_ack=True)
    assert message is not None and message.body == b"kept"
    channel.queue_delete("bench-test")
    conn.close()


@pytest.mark.parametrize("how", ["cleanup", "kill"])
def test_stop_and_crash_leave_no_process(how: str) -> None:
    _require_rabbitmq()
    server = RabbitMQServer().start()
    try:
        pids = [*server.process.pids(), *server.epmd.pids()]  # type: ignore[union-attr]
        beam = server.beam_pid()
        assert beam in pids and len(pids) >= 3
        base = server.base_dir
        assert base is not None and base.is_dir()
        if how == "kill":
            server.kill()  # a crash: the VM alone dies; the directory is kept for the restart
            assert gone([beam]) and base.is_dir()  # type: ignore[list-item]
            server.start()
            pids += [*server.process.pids()]  # type: ignore[union-attr]
    finally:
        server.cleanup()
    assert gone(pids), f"left running: {[p for p in pids if _alive(p)]}"
    assert not base.exists()
    assert not _node_processes(server.node_name, base)


HARNESS = textwrap.dedent(
    """
    import json, time
    from bench.services import RabbitMQServer
    server = RabbitMQServer().start()
    pids = [*server.process.pids(), *server.epmd.pids()]
    print(json.dumps({"pids": pids, "dir": str(server.base_dir), "node": server.node_name}), flush=True)
    time.sleep(300)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_harness_killed_leaves_no_rabbitmq(signum: int) -> None:
    """Even a SIGKILLed harness leaves no node, no epmd and no directory: the parent-death signal reaches the
    supervisor (which stops the node and removes the directory) and the suite's own epmd."""
    _require_rabbitmq()
    started = kill_harness(HARNESS, signum)
    assert not _node_processes(started["node"], Path(started["dir"]))


@pytest.mark.unit
def test_unreachable_or_malformed_amqp_url_is_one_line() -> None:
    with pytest.raises(ServiceError, match="unreachable") as caught:
        ExternalRabbitMQ(f"amqp://guest:guest@{LOOPBACK}:{free_port()}/").start()
    assert "\n" not in str(caught.value)
    with pytest.raises(UsageError, match="malformed"):
        ExternalRabbitMQ("redis://127.0.0.1:6379/0").start()


@pytest.mark.unit
def test_unreachable_amqp_url_is_a_usage_error_at_start(tmp_path: Path) -> None:
    """Checked while the options are read, before any service starts: one line, exit status 2."""
    url = f"amqp://guest:guest@{LOOPBACK}:{free_port()}/"
    with pytest.raises(UsageError, match="unreachable") as caught:
        parse_args(["--preset", "smoke", "--backends", "huey", "--amqp-url", url, "--out", str(tmp_path / "out")])
    assert caught.value.exit_code == 2 and "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()
