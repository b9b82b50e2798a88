"""Django settings of the Celery project: the shop's common settings plus Celery on Redis or RabbitMQ.

The broker is chosen by ``SHOP_BROKER`` (``redis``: ``$SHOP_REDIS_URL``; ``rabbitmq``: ``$SHOP_AMQP_URL`` through
kombu's py-amqp transport, Celery's default), which the harness sets from the backend's ``broker`` (``celery`` and
``celery-rabbitmq`` in ``backend.toml``): one project, two backends.

Profiles (``SHOP_PROFILE``): ``bare`` is Celery alone, without django-celery-results (Celery's default: no result
backend), ``shipped`` adds django-celery-results as the "First steps with Django" tutorial does and otherwise keeps
Celery's defaults, ``tuned`` applies Celery's own optimisation advice, ``safe`` applies Celery's documented
at-least-once settings. ``BENCH_SETTINGS`` lists every setting that differs from
the library default in the active profile; the harness records it with the results.
"""

from shop.conf import NonDefaultSettings
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

_ON_RABBITMQ = SHOP_ENV.broker == "rabbitmq"
# A one-line ImproperlyConfigured when the broker's URL is missing.
_BROKER_URL = SHOP_ENV.require_amqp_url() if _ON_RABBITMQ else SHOP_ENV.require_redis_url()

ROOT_URLCONF = "shop_celery.urls"
WSGI_APPLICATION = "shop_celery.wsgi.application"
# bare: Celery alone. django_celery_results is the tutorial's optional result store: not installed at all.
_RESULTS_APP = [] if SHOP_PROFILE == "bare" else ["django_celery_results"]
INSTALLED_APPS = [*INSTALLED_APPS, *_RESULTS_APP, "shop_celery"]
SHOP_QUEUE = "shop_celery.queue.enqueue"

LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"], "celery": {"level": SHOP_LOG_LEVEL}}}

#: One entry per setting that differs from Celery's default in the active profile (see docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs


# --- needed to work, every profile -------------------------------------------------------------------------------
CELERY_BROKER_URL = _BROKER_URL
if _ON_RABBITMQ:
    # Celery's default broker is RabbitMQ (py-amqp transport) on localhost: only the address differs.
    _differs("broker_url", "$SHOP_AMQP_URL", "amqp://guest@localhost//", "the suite's private RabbitMQ node")
else:
    _differs("broker_url", "$SHOP_REDIS_URL", "amqp://guest@localhost//", "the suite's private Redis")
# JSON is already Celery's default task/result serializer (and the only accepted content type); nothing to set.

# The tutorial's optional "django-celery-results" step: results stored through the ORM, browsable in the admin.
# bare leaves it out: Celery's default result_backend is None (DisabledBackend, which stores nothing).
if SHOP_PROFILE != "bare":
    CELERY_RESULT_BACKEND = "django-db"
    _differs(
        "result_backend",
        "django-db",
        None,
        "django-celery-results as in the 'First steps with Django' tutorial; stores one TaskResult row per task",
    )
_differs(
    "worker --concurrency / --pool",
    "{concurrency} / threads" if SHOP_PROFILE == "io" else "{processes} / prefork",
    "CPU count / prefork",
    "io: one process with processes x threads threads, for many waiting tasks (Concurrency guide: the threads pool)"
    if SHOP_PROFILE == "io"
    else "the suite runs N processes, one task at a time each, for every backend (backend.toml)",
)

# --- profiles ----------------------------------------------------------------------------------------------------
if SHOP_PROFILE == "tuned":
    # https://docs.celeryq.dev/en/stable/userguide/optimizing.html#prefetch-limits : "If you have many short tasks
    # and throughput/round trip latency is important to you, this number should be large ... Say 64, or 128."
    CELERY_WORKER_PREFETCH_MULTIPLIER = 64
    _differs("worker_prefetch_multiplier", 64, 4, "Optimizing guide, prefetch limits: large for many short tasks")
    # https://docs.celeryq.dev/en/stable/userguide/tasks.html#ignore-results-you-don-t-want : nobody reads the
    # shop's task results (the shop keeps its own records), so storing them is wasted work.
    CELERY_TASK_IGNORE_RESULT = True
    _differs("task_ignore_result", True, False, "Tasks guide, 'Ignore results you don't want'")
    _differs(
        "worker --without-mingle --without-gossip",
        True,
        False,
        "worker guide: mingle/gossip only matter for multi-node clusters; mingle costs ~1 s at start (backend.toml)",
    )
elif SHOP_PROFILE == "safe":
    # https://docs.celeryq.dev/en/stable/userguide/tasks.html#Task.acks_late and the FAQ "Should I use retry or
    # acks_late?": acknowledge after the task ran, and re-queue the message if the worker process is lost.
    CELERY_TASK_ACKS_LATE = True
    _differs("task_acks_late", True, False, "at-least-once: ack after execution (Tasks guide, acks_late)")
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    _differs("task_reject_on_worker_lost", True, False, "at-least-once: re-queue when a pool process dies")
    # Optimizing guide, "Reserve one task at a time": acks_late together with a prefetch multiplier of 1.
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    _differs("worker_prefetch_multiplier", 1, 4, "Optimizing guide, 'Reserve one task at a time' (with acks_late)")
    if _ON_RABBITMQ:
        # https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.pyamqp.html : "Passing
        # confirm_publish=True in transport_options enables publisher confirms" -- delay() returns once the node
        # has taken the message (a persistent message on Celery's durable default queue: written to disk) instead
        # of when it left the socket. Queues and messages are durable/persistent by Celery's default already.
        CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
        _differs(
            "broker_transport_options",
            CELERY_BROKER_TRANSPORT_OPTIONS,
            {},
            "at-least-once on RabbitMQ: publisher confirms (kombu py-amqp transport, confirm_publish), so an "
            "enqueue the node did not take raises instead of being lost",
        )

if SHOP_ENV.fast_faults and not _ON_RABBITMQ:
    # Redis has no acks: kombu re-delivers a message unacknowledged for visibility_timeout seconds, sweeping every
    # unacked_restore_interval * unacked_restore_throttle seconds (kombu/transport/redis.py). A task (e.g. `sleep`)
    # running longer than visibility_timeout under acks_late is delivered a second time: keep fault sleeps shorter.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 10,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    _differs(
        "broker_transport_options",
        CELERY_BROKER_TRANSPORT_OPTIONS,
        {"visibility_timeout": 3600, "unacked_restore_interval": 10, "unacked_restore_throttle": 10},
        "SHOP_FAST_FAULTS: re-deliver lost messages after 10 s instead of 1 h; tasks must run < 10 s",
    )
# On RabbitMQ nothing needs shortening: an unacknowledged message returns to its queue as soon as the connection of
# the consumer holding it closes (a dead worker), and the node's consumer_timeout is the harness's configuration.
