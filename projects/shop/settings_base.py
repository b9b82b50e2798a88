"""Common Django settings of every backend project: ``from shop.settings_base import *``.

Each project then sets ``ROOT_URLCONF`` (including ``shop.urls`` at "/"), extends ``INSTALLED_APPS``, sets
``SHOP_QUEUE`` and configures its queue library. Everything here comes from the environment variables of
docs/ARCHITECTURE.md, read through :class:`shop.conf.ShopEnv`.
"""

import os as _os

import dj_database_url as _dj_database_url

from shop.conf import ShopEnv as _ShopEnv

#: The parsed environment; backend settings use it too (``SHOP_ENV.require_redis_url()``, ``SHOP_ENV.profile``).
SHOP_ENV = _ShopEnv.from_environ()

SHOP_BACKEND_NAME: str = SHOP_ENV.backend
SHOP_VAR_DIR = SHOP_ENV.var_dir
SHOP_PROFILE: str = SHOP_ENV.profile
SHOP_LOG_LEVEL: str = SHOP_ENV.log_level
# SHOP_QUEUE (dotted path of ``enqueue(name, *args, **kwargs) -> str``) is deliberately not set here: a project that
# forgets it must fail loudly rather than silently run its tasks in-process.

SECRET_KEY = _os.environ.get("SHOP_SECRET_KEY") or "django-insecure-shop-demo-key-for-local-benchmarks"
# Workers must run with DEBUG off: DEBUG keeps every SQL query in memory and changes library defaults (Huey).
DEBUG = SHOP_ENV.debug
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shop.context_processors.shop",
            ],
        },
    },
]

if SHOP_ENV.database_url:
    DATABASES = {"default": _dj_database_url.parse(SHOP_ENV.database_url, conn_max_age=60)}
else:
    SHOP_VAR_DIR.mkdir(parents=True, exist_ok=True)  # sqlite3 cannot create the file's directory
    # Several worker processes write to one SQLite file: WAL lets readers run beside the writer, IMMEDIATE takes
    # the write lock at BEGIN (no deadlock-prone lock upgrades), and a 30 s busy timeout waits instead of failing.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SHOP_VAR_DIR / "db.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = SHOP_VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = SHOP_VAR_DIR / "media"

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = SHOP_ENV.smtp_host
EMAIL_PORT = SHOP_ENV.smtp_port
# Short, so that "SMTP down" fails fast and the backend's retry policy can act.
EMAIL_TIMEOUT = 5
DEFAULT_FROM_EMAIL = "Demo Shop <shop@example.com>"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": SHOP_LOG_LEVEL},
    "loggers": {"django": {"level": SHOP_LOG_LEVEL}, "shop": {"level": SHOP_LOG_LEVEL}},
}
