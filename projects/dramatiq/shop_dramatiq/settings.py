"""Django settings of the Dramatiq project: the shop's common settings plus Dramatiq on Redis or RabbitMQ via
django_dramatiq.

The broker is chosen by ``SHOP_BROKER`` (``redis``: RedisBroker on ``$SHOP_REDIS_URL``; ``rabbitmq``: RabbitmqBroker,
Dramatiq's default broker, on ``$SHOP_AMQP_URL``), which the harness sets from the backend's ``broker`` (``dramatiq``
and ``dramatiq-rabbitmq`` in ``backend.toml``): one project, two backends.

Profiles (``SHOP_PROFILE``): ``bare`` is Dramatiq with only the part of django_dramatiq the shop's ORM tasks need
(DbConnectionsMiddleware; no AdminMiddleware, so no Task row per message), ``shipped`` is django_dramatiq as its README
sets it up (AdminMiddleware included) with Dramatiq's defaults, ``tuned`` applies what Dramatiq documents for
latency/throughput, ``safe`` is Dramatiq's at-least-once behaviour (already the default on Redis). ``BENCH_SETTINGS``
lists every setting that differs from the library default in the active profile.
"""

import os

from shop.conf import NonDefaultSettings
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

_ON_RABBITMQ = SHOP_ENV.broker == "rabbitmq"
# A one-line ImproperlyConfigured when the broker's URL is missing.
_BROKER_URL = SHOP_ENV.require_amqp_url() if _ON_RABBITMQ else SHOP_ENV.require_redis_url()

ROOT_URLCONF = "shop_dramatiq.urls"
WSGI_APPLICATION = "shop_dramatiq.wsgi.application"
# django_dramatiq first: its AppConfig builds the broker, before any app's tasks module declares actors.
INSTALLED_APPS = ["django_dramatiq", *INSTALLED_APPS, "shop_dramatiq"]
SHOP_QUEUE = "shop_dramatiq.queue.enqueue"

LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"], "dramatiq": {"level": SHOP_LOG_LEVEL}}}

#: One entry per setting that differs from Dramatiq's default in the active profile (see docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs


# Dramatiq's own default middleware (dramatiq.middleware.default_middleware). With django_dramatiq a MIDDLEWARE list
# *replaces* the defaults (an absent list means no middleware at all, hence no retries), so it is spelled out here.
_DRAMATIQ_DEFAULT_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.ShutdownNotifications",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Pipelines",
    "dramatiq.middleware.Retries",
]
# django_dramatiq's: closes stale DB connections around each message (needed for any ORM work in a worker) and
# AdminMiddleware, which records every message as a django_dramatiq Task row (the admin's task pages).
_DB_CONNECTIONS = "django_dramatiq.middleware.DbConnectionsMiddleware"
_ADMIN = "django_dramatiq.middleware.AdminMiddleware"
# The suite's own: writes the measurement channel's "confirmed" event after the broker acked a probed message.
_CONFIRM = "shop_dramatiq.confirm.ConfirmMiddleware"

_broker_options: dict[str, object] = {"url": _BROKER_URL}
_middleware = [*_DRAMATIQ_DEFAULT_MIDDLEWARE, _ADMIN, _DB_CONNECTIONS, _CONFIRM]

if _ON_RABBITMQ:
    # RabbitmqBroker is Dramatiq's default broker; only its address differs (its default url is localhost:5672).
    _differs(
        "DRAMATIQ_BROKER.OPTIONS.url", "$SHOP_AMQP_URL", "amqp://localhost:5672 (pika's)", "the suite's private node"
    )
else:
    _differs(
        "DRAMATIQ_BROKER.BROKER", "RedisBroker(url=$SHOP_REDIS_URL)", "RabbitmqBroker", "the suite's private Redis"
    )
_differs(
    "rundramatiq --processes / --threads",
    "{processes} / {threads}" if SHOP_PROFILE == "io" else "{processes} / 1",
    "CPU count / 8",
    "io: {threads} threads per process, for many waiting tasks (Dramatiq guide, Workers: --threads)"
    if SHOP_PROFILE == "io"
    else "the suite runs N processes, one task at a time each, for every backend (backend.toml)",
)

if SHOP_PROFILE in ("bare", "tuned"):
    # bare: Dramatiq without the integration's admin store. tuned: nobody reads the per-message Task rows, so drop
    # them, as Celery's tuned profile ignores results. DbConnectionsMiddleware stays: the shop's tasks use the ORM.
    _middleware = [*_DRAMATIQ_DEFAULT_MIDDLEWARE, _DB_CONNECTIONS, _CONFIRM]
if SHOP_PROFILE == "tuned" and not _ON_RABBITMQ:
    # (RabbitMQ pushes messages to the consumer, basic.consume: no idle poll to shorten there.)
    # dramatiq/worker.py: "The number of milliseconds workers should wake up after if the queue is idle" -- the Redis
    # consumer polls with back-off up to this value, so idle pick-up waits up to 1 s. Dramatiq reads it only from the
    # environment; rundramatiq loads these settings and then exec()s the dramatiq CLI, which inherits os.environ.
    os.environ.setdefault("dramatiq_worker_timeout", "100")
    _differs(
        "env dramatiq_worker_timeout",
        int(os.environ["dramatiq_worker_timeout"]),  # noqa: SIM112 -- dramatiq reads this lower-case name
        1000,
        "shorter idle poll back-off of the Redis consumer (dramatiq/worker.py WORKER_TIMEOUT)",
    )

_differs(
    "DRAMATIQ_BROKER.MIDDLEWARE",
    [m.rsplit(".", 1)[1] for m in _middleware],
    "django_dramatiq's list: Prometheus, AgeLimit, TimeLimit, Callbacks, Retries, AdminMiddleware, DbConnections",
    "Dramatiq's own default_middleware plus django_dramatiq's DB middleware"
    + ("" if _ADMIN in _middleware else " without AdminMiddleware (no Task row per message)")
    + "; no Prometheus exporter (an HTTP server per worker, needs prometheus_client)"
    + "; plus the suite's ConfirmMiddleware (after_ack: writes the measurement channel's 'done' event of a probed"
    " message; nothing for a message without a probe)",
)

# safe: the Redis broker is at-least-once already -- fetched messages sit in a per-worker ack set and are re-queued
# by queue maintenance once the worker's heartbeat is older than heartbeat_timeout. Nothing to change.
# On RabbitMQ, consumers ack after processing (dramatiq/brokers/rabbitmq.py) on durable queues with persistent
# messages by default; what the default leaves out is publisher confirms.
if _ON_RABBITMQ and SHOP_PROFILE == "safe":
    # https://dramatiq.io/reference.html#dramatiq.brokers.rabbitmq.RabbitmqBroker : "confirm_delivery(bool): Wait for
    # RabbitMQ to confirm that messages have been committed on every call to enqueue. This must be enabled for
    # Dramatiq to detect and re-declare missing queues when enqueing messages."
    _broker_options["confirm_delivery"] = True
    _differs(
        "RabbitmqBroker confirm_delivery",
        True,
        False,
        "at-least-once on RabbitMQ: send() returns once the node confirmed the message (publisher confirms)",
    )

if SHOP_ENV.fast_faults and not _ON_RABBITMQ:
    # Maintenance runs on maintenance_chance per million broker commands; make it run on every command and declare a
    # worker dead after 3 s without a heartbeat (every fetch is a heartbeat; idle consumers fetch at least every
    # worker_timeout = 1 s).
    _broker_options.update(heartbeat_timeout=3000, maintenance_chance=1_000_000)
    _differs("RedisBroker heartbeat_timeout", 3000, 60000, "SHOP_FAST_FAULTS: a dead worker's messages return in ~3 s")
    _differs("RedisBroker maintenance_chance", 1_000_000, 1000, "SHOP_FAST_FAULTS: queue maintenance on every command")
# On RabbitMQ nothing needs shortening: a dead worker's unacked messages return when its connection closes.

DRAMATIQ_BROKER = {
    "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker" if _ON_RABBITMQ else "dramatiq.brokers.redis.RedisBroker",
    "OPTIONS": _broker_options,
    "MIDDLEWARE": _middleware,
}
# JSON is Dramatiq's (and django_dramatiq's) default encoder: dramatiq.encoder.JSONEncoder. Nothing to set.
