"""Django settings of the tasks_db project: the shop's common settings plus Django's Tasks framework with
django-tasks-db's ``DatabaseBackend``. No Redis: ``SHOP_REDIS_URL`` is not read. The queue is a table of the shop's
own database (SQLite in ``SHOP_VAR_DIR`` by default, PostgreSQL when ``SHOP_DATABASE_URL`` points to one).

On Django 6.0+ the framework is ``django.tasks``; on Django 5.2 the ``django-tasks`` backport provides the same API
as ``django_tasks`` (and its app is installed, as its README asks). django-tasks-db supports both (its ``compat``).

Profiles (``SHOP_PROFILE``): all three are django-tasks-db's defaults. ``tuned``: its documentation advises nothing
for throughput. ``safe``: there is no at-least-once setting (README.md). ``BENCH_SETTINGS`` lists every setting
that differs from the library default.
"""

from shop.conf import NonDefaultSettings
from shop.dtasks import FRAMEWORK_APPS, tasks_setting
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_LOG_LEVEL

ROOT_URLCONF = "shop_tasks_db.urls"
WSGI_APPLICATION = "shop_tasks_db.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, *FRAMEWORK_APPS, "django_tasks_db", "shop_tasks_db"]
SHOP_QUEUE = "shop_tasks_db.queue.enqueue"

#: One entry per setting that differs from django-tasks-db's default in the active profile (docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs
TASKS = tasks_setting(BENCH_SETTINGS, "django_tasks_db.DatabaseBackend")

# db_worker sets the framework's and its own logger to INFO at the default --verbosity 1 (configure_logging), which
# would log two lines per task; the handler's level keeps the suite's one log level without hiding warnings (as
# --verbosity 0 would: it sets CRITICAL).
LOGGING = {
    **LOGGING,
    "handlers": {"console": {**LOGGING["handlers"]["console"], "level": SHOP_LOG_LEVEL}},
}

_differs(
    "db_worker processes",
    "{processes} copies of `manage.py db_worker` (python -m bench.copies)",
    "1 (db_worker runs one process, one task at a time)",
    "the suite runs N processes, one task at a time each, for every backend; N copies is how db_worker scales",
)
_differs(
    "LOGGING['handlers']['console']['level']",
    SHOP_LOG_LEVEL,
    "none (db_worker raises its loggers to INFO: a line per task start and end)",
    "the suite's one log level",
)
# Not changed, and worth knowing: db_worker --interval 1 (an idle worker polls the table once a second: up to 1 s
# wait-to-start on an idle queue), a random start-up delay of up to 1 s, no retries, no timeout of a RUNNING row.
