"""Django settings of the Huey project: the shop's common settings plus Huey (RedisHuey) via huey.contrib.djhuey.

Profiles (``SHOP_PROFILE``): ``shipped`` keeps Huey's defaults, ``tuned`` applies Huey's documented advice, ``safe``
would hold at-least-once settings but Huey has none on Redis (see README.md). ``BENCH_SETTINGS`` lists every setting
that differs from the library default in the active profile.
"""

from shop.conf import NonDefaultSettings
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

SHOP_ENV.require_redis_url()  # a one-line ImproperlyConfigured when it is missing

ROOT_URLCONF = "shop_huey.urls"
WSGI_APPLICATION = "shop_huey.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "huey.contrib.djhuey", "shop_huey"]
SHOP_QUEUE = "shop_huey.queue.enqueue"

# run_huey only installs its own handler (and an INFO level) on the "huey" logger when that logger has no handler:
# giving it one here makes SHOP_LOG_LEVEL the level of the consumer too.
LOGGING = {
    **LOGGING,
    "loggers": {
        **LOGGING["loggers"],
        "huey": {"handlers": ["console"], "level": SHOP_LOG_LEVEL, "propagate": False},
    },
}

#: One entry per setting that differs from Huey's default in the active profile (see docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs


HUEY: dict[str, object] = {
    # RedisHuey is djhuey's default class; its storage pops with BRPOP (blocking=True is RedisStorage's default).
    "name": "shop_huey",
    "connection": {"url": SHOP_ENV.redis_url},
    # djhuey defaults `immediate` to settings.DEBUG (tasks would run inside the caller): never let DEBUG decide.
    "immediate": False,
}
# Huey's only serializer is pickle (huey/serializer.py): its task messages are pickled Message tuples (with
# datetimes), and there is no JSON serializer to choose. Nothing to set.
_differs("HUEY.name", "shop_huey", "the database NAME (a file path for SQLite)", "a readable Redis key prefix")
_differs("HUEY.connection", {"url": "$SHOP_REDIS_URL"}, "localhost:6379", "the suite's private Redis")
_differs("HUEY.immediate", False, "settings.DEBUG", "explicit, so that DEBUG never makes tasks run in the caller")
_differs(
    "run_huey -w / -k",
    "{concurrency} / thread" if SHOP_PROFILE == "io" else "{processes} / process",
    "1 / thread",
    "io: one consumer with processes x threads thread workers (Huey consumer docs: threads for IO-bound tasks)"
    if SHOP_PROFILE == "io"
    else "the suite runs N processes, one task at a time each, for every backend (backend.toml)",
)
_differs("LOGGING['loggers']['huey']", SHOP_LOG_LEVEL, "INFO (run_huey)", "the suite's one log level")

if SHOP_PROFILE == "tuned":
    # https://huey.readthedocs.io/en/latest/api.html#Huey : "results (bool) - whether to store task results".
    # Nobody reads the shop's task results; not storing them saves a Redis write per task with a return value.
    HUEY["results"] = False
    _differs("HUEY.results", False, True, "task results are never read (as Celery's tuned task_ignore_result)")

# safe: Huey on Redis pops a message (BRPOP) and holds it only in the worker's memory -- there is no ack, visibility
# timeout or heartbeat to configure, so a killed worker loses its task. What Huey documents instead is a
# SIGNAL_INTERRUPTED handler that re-enqueues a task the consumer's shutdown interrupted (tasks.py). SHOP_FAST_FAULTS
# has nothing to shorten.
if SHOP_PROFILE == "safe":
    _differs(
        "@HUEY.signal(SIGNAL_INTERRUPTED) handler",
        "huey.enqueue(task)",
        None,
        "Huey's documented re-enqueue of tasks interrupted by a shutdown (Signals guide); does nothing on SIGKILL",
    )
