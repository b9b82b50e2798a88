"""Django settings of the RQ project: the shop's common settings plus RQ through django-rq.

Profiles (``SHOP_PROFILE``): ``shipped`` keeps RQ's and django-rq's defaults, ``tuned`` applies RQ's documented
advice, ``safe`` would hold at-least-once settings but RQ has none (see README.md). ``BENCH_SETTINGS`` lists every
setting that differs from the library default in the active profile.
"""

from shop.conf import NonDefaultSettings
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

SHOP_ENV.require_redis_url()  # a one-line ImproperlyConfigured when it is missing

ROOT_URLCONF = "shop_rq.urls"
WSGI_APPLICATION = "shop_rq.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "django_rq", "shop_rq"]
SHOP_QUEUE = "shop_rq.queue.enqueue"

#: One entry per setting that differs from RQ's / django-rq's default in the active profile (docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs

# rqworker-pool sets the level of RQ's loggers from --verbosity (0 = WARNING, backend.toml) and adds its own handler
# only when the logger has none: this handler makes SHOP_LOG_LEVEL filter the workers' output too.
LOGGING = {
    **LOGGING,
    "handlers": {**LOGGING["handlers"], "rq": {**LOGGING["handlers"]["console"], "level": SHOP_LOG_LEVEL}},
    "loggers": {**LOGGING["loggers"], "rq": {"handlers": ["rq"], "level": SHOP_LOG_LEVEL, "propagate": False}},
}

RQ_QUEUES: dict[str, dict[str, object]] = {
    "default": {
        "URL": SHOP_ENV.redis_url,
        # RQ's default serializer is pickle; rq.serializers.JSONSerializer is its documented alternative. The worker
        # must use the same one (--serializer in backend.toml).
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
}
# The confirmed-done channel event is written by a Worker subclass after RQ stored the result (worker.py); the tuned
# profile's subclass also preloads the jobs module.
RQ: dict[str, object] = {
    "WORKER_CLASS": "shop_rq.worker.PreloadingWorker" if SHOP_PROFILE == "tuned" else "shop_rq.worker.ConfirmingWorker"
}
_differs("RQ_QUEUES['default']['URL']", "$SHOP_REDIS_URL", "redis://localhost:6379/0", "the suite's private Redis")
_differs(
    "RQ_QUEUES['default']['SERIALIZER'] / rqworker-pool --serializer",
    "rq.serializers.JSONSerializer",
    "rq.serializers.DefaultSerializer (pickle)",
    "JSON where the library supports it, for every backend",
)
if SHOP_PROFILE != "tuned":
    _differs(
        "RQ['WORKER_CLASS']",
        "shop_rq.worker.ConfirmingWorker",
        "rq.Worker",
        "rq.Worker plus one channel write after a job's success is stored (measurement only, no behaviour change)",
    )
_differs(
    "rqworker-pool --num-workers",
    "{concurrency}" if SHOP_PROFILE == "io" else "{processes}",
    1,
    "io: processes x threads workers: RQ has no threads, one job per work horse (RQ docs, Worker Pool)"
    if SHOP_PROFILE == "io"
    else "the suite runs N processes, one task at a time each, for every backend (backend.toml)",
)
_differs(
    "rqworker-pool --verbosity",
    0,
    "1 (INFO: one log line per job)",
    "the suite's one log level (WARNING); the 'rq' logger's handler filters at SHOP_LOG_LEVEL",
)

if SHOP_PROFILE == "tuned":
    # https://python-rq.org/docs/workers/#performance-notes : each job runs in a freshly forked work horse, which
    # imports the job's module again; "preload the necessary modules before forking" (a custom worker does it).
    _differs(
        "RQ['WORKER_CLASS']",
        "shop_rq.worker.PreloadingWorker",
        "rq.Worker",
        "RQ docs, Workers, performance notes: preload the jobs module before forking (+ the channel write, as shipped)",
    )
    # https://python-rq.org/docs/results/ : "result_ttl=0 ... the result is discarded immediately". Nobody reads the
    # shop's task results; not storing them saves the Result write (as Celery's tuned task_ignore_result).
    RQ_QUEUES["default"]["DEFAULT_RESULT_TTL"] = 0
    _differs(
        "RQ_QUEUES['default']['DEFAULT_RESULT_TTL']",
        0,
        500,
        "task results are never read (RQ docs, results: result_ttl=0 discards them); also no FinishedJobRegistry entry",
    )

# safe: RQ has no acknowledgement or visibility timeout: a job whose worker dies stays in the StartedJobRegistry
# until its heartbeat expires and a worker's maintenance (every 10 min) moves it to the FailedJobRegistry -- it is
# re-run only if it was enqueued with retries left. There is no setting that re-queues it; nothing to set.
# SHOP_FAST_FAULTS neither: rqworker-pool has no option for the maintenance interval or the heartbeat.
