"""Minimal settings for the shop's unit tests: the common settings, a throw-away SHOP_VAR_DIR, the inline queue."""

import atexit
import shutil
import tempfile
from pathlib import Path

from shop.settings_base import *  # noqa: F403
from shop.settings_base import DATABASES

# Never share state with a real run (and leave os.environ alone: other tests start real workers from it).
SHOP_VAR_DIR = Path(tempfile.mkdtemp(prefix="shop-tests-"))
atexit.register(shutil.rmtree, SHOP_VAR_DIR, ignore_errors=True)
MEDIA_ROOT = SHOP_VAR_DIR / "media"
STATIC_ROOT = SHOP_VAR_DIR / "static"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["NAME"] = SHOP_VAR_DIR / "db.sqlite3"
    # A real file (WAL, IMMEDIATE transactions) rather than the in-memory default, so that concurrency tests
    # exercise the same SQLite set-up as the workers.
    DATABASES["default"]["TEST"] = {"NAME": str(SHOP_VAR_DIR / "test-db.sqlite3")}

ROOT_URLCONF = "tests.shop.urls"
SHOP_BACKEND_NAME = "inline"
SHOP_QUEUE = "shop.queue.inline.enqueue"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
