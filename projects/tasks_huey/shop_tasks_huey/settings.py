"""Django settings of the tasks_huey project: the shop's common settings plus Django's Tasks framework with Huey's
backend (``huey.contrib.djhuey.tasks_backend.HueyBackend``), on the same Redis and the same ``run_huey`` consumer
and ``HUEY`` settings as the native Huey project, so that the difference between the two is the framework layer.

On Django 6.0+ the framework is ``django.tasks``; on Django 5.2 the ``django-tasks`` backport provides the same API
as ``django_tasks`` (Huey's backend imports either), and its app is installed, as its README asks.

Profiles (``SHOP_PROFILE``): as the native Huey project (``tuned``: ``results=False``; ``safe``: Huey has no
at-least-once setting on Redis). ``BENCH_SETTINGS`` lists every setting that differs from the library default.
"""

from shop.conf import NonDefaultSettings
from shop.dtasks import FRAMEWORK_APPS, tasks_setting
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

SHOP_ENV.require_redis_url()  # a one-line ImproperlyConfigured when it is missing

ROOT_URLCONF = "shop_tasks_huey.urls"
WSGI_APPLICATION = "shop_tasks_huey.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, *FRAMEWORK_APPS, "huey.contrib.djhuey", "shop_tasks_huey"]
SHOP_QUEUE = "shop_tasks_huey.queue.enqueue"

#: One entry per setting that differs from the libraries' defaults in the active profile (docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs
TASKS = tasks_setting(BENCH_SETTINGS, "huey.contrib.djhuey.tasks_backend.HueyBackend")

# As in the Huey project: run_huey only installs its own handler (and an INFO level) on the "huey" logger when that
# logger has none.
LOGGING = {
    **LOGGING,
    "loggers": {
        **LOGGING["loggers"],
        "huey": {"handlers": ["console"], "level": SHOP_LOG_LEVEL, "propagate": False},
    },
}


HUEY: dict[str, object] = {
    "name": "shop_tasks_huey",
    "connection": {"url": SHOP_ENV.redis_url},
    # djhuey defaults `immediate` to settings.DEBUG (tasks would run inside the caller): never let DEBUG decide.
    "immediate": False,
}
_differs("HUEY.name", "shop_tasks_huey", "the database NAME (a file path for SQLite)", "a readable Redis key prefix")
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
    # As the native Huey project. Huey's backend stores its own `djt.<id>` record in every profile (HUEY.put_result
    # does not look at `results`); only Huey's own result of the `djtasks.run` task (None, or its error) is dropped.
    HUEY["results"] = False
    _differs("HUEY.results", False, True, "task results are never read (as Celery's tuned task_ignore_result)")
