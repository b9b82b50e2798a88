"""The services a benchmark run needs, each started privately on a free loopback port and stopped for sure.

One module per service, all alike to the harness (start, prove ready, give the URL a client should use, stop, also
when the harness is killed; for faults, restart or crash):

- :mod:`bench.services.process`: :class:`ManagedProcess` / :class:`ProcessGroup` and the registry every started
  process is in (Ctrl-C, SIGTERM or a crash of the harness stops them all);
- :mod:`bench.services.redis`: :class:`RedisServer` (private) / :class:`ExternalRedis` (``--redis-url``);
- :mod:`bench.services.postgres`: :class:`PostgresServer` (private cluster) / :class:`ExternalPostgres`
  (``--database-url``);
- :mod:`bench.services.rabbitmq`: :class:`RabbitMQServer` (private node) / :class:`ExternalRabbitMQ` (``--amqp-url``);
- :mod:`bench.services.smtp`: :class:`SmtpSink`, where the invoice emails go;
- :mod:`bench.services.proxy`: :class:`DelayProxy` (a userspace TCP proxy adding a round-trip time and counting
  round trips) and :class:`ProxiedPath` (a session's services through one).
- :mod:`bench.services.hosts`: :class:`NetnsHosts` (``--hosts netns``: app, workers and broker as three network
  namespaces joined by links).

No Django here: the harness talks to the backends through subprocesses only. The names below are the public ones
other modules use; import them from ``bench.services``.
"""

from __future__ import annotations

from bench.services.postgres import (
    ExternalPostgres,
    PostgresServer,
    check_database_url,
    database_service,
    find_postgres_bin,
    postgres_available,
    redact_url,
)
from bench.services.process import (
    LOOPBACK,
    ManagedProcess,
    ProcessGroup,
    Usage,
    free_port,
    set_parent_death_signal,
    stop_all,
    usage,
    wait_for_port,
)
from bench.services.proxy import DelayProxy, ProxiedPath
from bench.services.rabbitmq import (
    ExternalRabbitMQ,
    RabbitMQServer,
    check_amqp_reachable,
    rabbitmq_available,
    rabbitmq_service,
)
from bench.services.redis import ExternalRedis, RedisServer, RedisService, check_redis_url, redis_service
from bench.services.smtp import SmtpSink

__all__ = [
    "LOOPBACK",
    "DelayProxy",
    "ExternalPostgres",
    "ExternalRabbitMQ",
    "ExternalRedis",
    "ManagedProcess",
    "PostgresServer",
    "ProcessGroup",
    "ProxiedPath",
    "RabbitMQServer",
    "RedisServer",
    "RedisService",
    "SmtpSink",
    "Usage",
    "check_amqp_reachable",
    "check_database_url",
    "check_redis_url",
    "database_service",
    "find_postgres_bin",
    "free_port",
    "postgres_available",
    "rabbitmq_available",
    "rabbitmq_service",
    "redact_url",
    "redis_service",
    "set_parent_death_signal",
    "stop_all",
    "usage",
    "wait_for_port",
]
