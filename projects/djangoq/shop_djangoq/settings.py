"""Django settings of the django-q2 project: the shop's common settings plus a Q cluster on Redis.

Profiles (``SHOP_PROFILE``): ``bare`` keeps successful results out of Django's database (``save_limit = -1``: the
same configuration as ``tuned``, declared in backend.toml), ``shipped`` keeps django-q2's defaults, ``tuned`` applies
its documented advice,
``safe`` would hold at-least-once settings but django-q2 has none on Redis (see README.md). ``BENCH_SETTINGS`` lists
every setting that differs from the library default in the active profile.

The number of cluster workers comes from ``SHOP_WORKERS`` (``qcluster`` has no option for it); the harness sets it
from backend.toml's ``[worker] env``.
"""

import os

from shop.conf import NonDefaultSettings
from shop.settings_base import *  # noqa: F403
from shop.settings_base import INSTALLED_APPS, LOGGING, SHOP_ENV, SHOP_LOG_LEVEL, SHOP_PROFILE

SHOP_ENV.require_redis_url()  # a one-line ImproperlyConfigured when it is missing

ROOT_URLCONF = "shop_djangoq.urls"
WSGI_APPLICATION = "shop_djangoq.wsgi.application"
INSTALLED_APPS = [*INSTALLED_APPS, "django_q", "shop_djangoq"]
SHOP_QUEUE = "shop_djangoq.queue.enqueue"

# django_q/conf.py only applies Q_CLUSTER["log_level"] when the "django-q" logger has no handler anywhere up its
# tree; Django's LOGGING gives the root one, so the level is set here as well.
LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"], "django-q": {"level": SHOP_LOG_LEVEL}}}

#: One entry per setting that differs from django-q2's default in the active profile (see docs/ARCHITECTURE.md).
BENCH_SETTINGS = NonDefaultSettings()
_differs = BENCH_SETTINGS.differs


Q_CLUSTER: dict[str, object] = {
    # django_q/brokers/redis_broker.py: a str is passed to redis.from_url, a dict to redis.StrictRedis(**dict).
    "redis": SHOP_ENV.redis_url,
    # django-q2 logs an INFO line for every async_task call (and every processed task).
    "log_level": SHOP_LOG_LEVEL,
}
_differs("Q_CLUSTER.redis", "$SHOP_REDIS_URL", "{} (localhost:6379)", "the suite's private Redis")
_differs("Q_CLUSTER.log_level", SHOP_LOG_LEVEL, "INFO", "the suite's one log level; INFO logs every enqueue")
# Task packages are always pickled and signed (django_q/signing.py: SignedPackage with a PickleSerializer); there is
# no JSON option. Nothing to set.

_workers = os.environ.get("SHOP_WORKERS")
if SHOP_PROFILE == "io":
    # Many waiting tasks per core: django-q2's workers are processes (multiprocessing), its only concurrency knob is
    # their number (https://django-q2.readthedocs.io/en/master/configure.html#workers), so processes x threads of
    # the other backends' io profile ($SHOP_IO_WORKERS, backend.toml).
    _workers = os.environ.get("SHOP_IO_WORKERS") or _workers
if _workers:
    Q_CLUSTER["workers"] = int(_workers)
# Listed whether or not this process has SHOP_WORKERS: only the qcluster process gets it from the harness.
_differs(
    "Q_CLUSTER.workers",
    int(_workers)
    if _workers
    else ("{concurrency} ($SHOP_IO_WORKERS)" if SHOP_PROFILE == "io" else "{processes} ($SHOP_WORKERS)"),
    "CPU count",
    "io: as many worker processes as the threaded backends have threads, to run many waiting tasks (django-q2 has "
    "no threads)"
    if SHOP_PROFILE == "io"
    else "the suite runs N processes, one task at a time each, for every backend ($SHOP_WORKERS, backend.toml)",
)

if SHOP_PROFILE in ("bare", "tuned"):
    # https://django-q2.readthedocs.io/en/master/configure.html#save-limit : "-1 saves none" of the successful
    # tasks. bare: django-q2 *is* a Django app (its broker, cluster and scheduler need django_q installed), so
    # "without its Django result store" is this -- the monitor saves no Success row (django_q/monitor.py save_task
    # returns before any query); failures are still saved. tuned: nobody reads them, and saving means an ORM write
    # plus a locked prune query per task in the monitor. The same setting, so the two profiles are one
    # configuration (backend.toml [profiles.bare]).
    Q_CLUSTER["save_limit"] = -1
    _differs(
        "Q_CLUSTER.save_limit",
        -1,
        250,
        "no Success row per task: django-q2 without its Django result store (bare); the results are never read "
        "(tuned, as Celery's tuned ignore_result)",
    )

# safe / SHOP_FAST_FAULTS: on Redis, django-q2 pops a task with BLPOP and never acknowledges it (the Redis broker has
# no acknowledge/fail): `retry` (re-delivery after N s), `max_attempts` and `ack_failures` only act on brokers with
# delivery receipts (ORM, SQS, IronMQ, MongoDB). There is nothing to shorten or to make at-least-once.
