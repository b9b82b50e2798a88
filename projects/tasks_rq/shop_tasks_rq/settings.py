"""Django settings of the django.tasks + RQ project: the shop's common settings plus Django's Tasks framework with
the django-tasks-rq backend (RQ through django-rq).

Profiles (``SHOP_PROFILE``): ``shipped`` keeps the libraries' defaults, ``tuned`` applies RQ's documented advice that
reaches jobs django-tasks-rq creates (preloading the tasks module in the worker), ``safe`` would hold at-least-once
settings but neither RQ nor django.tasks has any (see the end of this file and README.md). ``BENCH_SETTINGS`` lists
every setting that differs from the default in the active profile.
"""

from shop.conf import NonDefaultSettings
from shop.dtasks import FRAMEWORK_APPS, tasks_setting
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

SHOP_ENV.require_redis_url()  # a one-line ImproperlyConfigured when it is missing

ROOT_URLCONF = "shop_tasks_rq.urls"
WSGI_APPLICATION = "shop_tasks_rq.wsgi.application"
# django-tasks-rq's README: "django_tasks_rq" in INSTALLED_APPS, and django-rq's app for its queues. The backport's
# own app only where it is the API (FRAMEWORK_APPS); Django 6 has django.tasks built in.
INSTALLED_APPS = [*INSTALLED_APPS, *FRAMEWORK_APPS, "django_rq", "django_tasks_rq", "shop_tasks_rq"]
SHOP_QUEUE = "shop_tasks_rq.queue.enqueue"

#: One entry per setting that differs from the libraries' defaults in the active profile (docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs

# rqworker-pool sets the level of RQ's loggers from --verbosity only (0 = WARNING, backend.toml) and adds its own
# handler only when the logger has none: this handler makes SHOP_LOG_LEVEL filter the workers' output too. The
# backport logs every finished task at INFO ("django_tasks" logger).
LOGGING = {
    **LOGGING,
    "handlers": {**LOGGING["handlers"], "rq": {**LOGGING["handlers"]["console"], "level": SHOP_LOG_LEVEL}},
    "loggers": {
        **LOGGING["loggers"],
        "rq": {"handlers": ["rq"], "level": SHOP_LOG_LEVEL, "propagate": False},
        "django_tasks": {"level": SHOP_LOG_LEVEL},
        "django.tasks": {"level": SHOP_LOG_LEVEL},
    },
}

TASKS = tasks_setting(BENCH_SETTINGS, "django_tasks_rq.RQBackend", QUEUES=["default"])
RQ_QUEUES: dict[str, dict[str, object]] = {
    "default": {
        "URL": SHOP_ENV.redis_url,
        # RQ's default serializer is pickle; django.tasks arguments and results are JSON anyway, and
        # rq.serializers.JSONSerializer is RQ's documented alternative. The worker uses the same (backend.toml).
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
}
_differs("RQ_QUEUES['default']['URL']", "$SHOP_REDIS_URL", "redis://localhost:6379/0", "the suite's private Redis")
_differs(
    "RQ_QUEUES['default']['SERIALIZER'] / rqworker-pool --serializer",
    "rq.serializers.JSONSerializer",
    "rq.serializers.DefaultSerializer (pickle)",
    "JSON where the library supports it, for every backend",
)
_differs(
    "rqworker-pool --job-class",
    "django_tasks_rq.Job",
    "rq.job.Job",
    "required by django-tasks-rq (its README: the worker must run its Job class)",
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
    RQ = {"WORKER_CLASS": "shop_tasks_rq.worker.PreloadingWorker"}
    _differs(
        "RQ['WORKER_CLASS']",
        "shop_tasks_rq.worker.PreloadingWorker",
        "rq.Worker",
        "RQ docs, Workers, performance notes: preload the tasks module before forking (as the rq project's tuned)",
    )
# tuned, not set: the rq project's DEFAULT_RESULT_TTL = 0 does not reach these jobs: django-tasks-rq builds them with
# queue.create_job()/enqueue_job(), which never apply django-rq's DEFAULT_RESULT_TTL (only DjangoRQ.enqueue_call
# does), so the worker's default result_ttl (500 s) holds -- and the backend reads results back through RQ for
# TaskResult.return_value. django.tasks has no option of its own for it.
# safe: RQ has no acknowledgement or visibility timeout, and django.tasks no retries: a job whose worker dies stays in
# the StartedJobRegistry until a worker's maintenance (every 10 min) fails it. Nothing to set; SHOP_FAST_FAULTS neither.
