"""The suite's environment variables (see docs/ARCHITECTURE.md), read in one place.

Django-free so that settings modules, the harness and tests can all use it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

#: The repository root (``projects/shop/conf.py`` → three levels up).
REPO_DIR = Path(__file__).resolve().parents[2]

BACKENDS = ("celery", "djangoq", "dramatiq", "huey", "tasks_db", "tasks_huey")
PROFILES = ("bare", "shipped", "tuned", "safe", "io")
#: ``SHOP_BROKER``: the broker a project that supports several configures its library for (bench.backends.BROKERS).
BROKERS = ("redis", "database", "rabbitmq")

_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (``1``/``true``/``yes``/``on`` are true)."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in _TRUE


def _default_backend() -> str:
    """``SHOP_BACKEND``, else the backend named by ``DJANGO_SETTINGS_MODULE=shop_<backend>.settings``, else celery."""
    explicit = os.environ.get("SHOP_BACKEND")
    if explicit:
        return explicit
    package = os.environ.get("DJANGO_SETTINGS_MODULE", "").split(".", 1)[0]
    if package.startswith("shop_") and package[5:] in BACKENDS:
        return package[5:]
    return "celery"


@dataclass(frozen=True, kw_only=True)
class ShopEnv:
    """The values of the suite's environment variables, with the contract's defaults applied."""

    backend: str
    #: ``SHOP_BROKER``: which broker the project's library is configured for (its ``backend.toml`` broker).
    broker: str
    redis_url: str | None
    amqp_url: str | None
    database_url: str | None
    var_dir: Path
    smtp_port: int
    #: ``SHOP_SMTP_HOST``: where the SMTP server is (another host with ``--hosts netns``).
    smtp_host: str
    channel_dir: Path | None
    profile: str
    log_level: str
    fast_faults: bool
    debug: bool

    @classmethod
    def from_environ(cls) -> ShopEnv:
        """Read ``os.environ`` now."""
        backend = _default_backend()
        var_dir = os.environ.get("SHOP_VAR_DIR") or str(REPO_DIR / "var" / backend)
        channel_dir = os.environ.get("SHOP_CHANNEL_DIR")
        profile = os.environ.get("SHOP_PROFILE") or "shipped"
        if profile not in PROFILES:
            raise ValueError(f"SHOP_PROFILE={profile!r}: expected one of {', '.join(PROFILES)}")
        broker = os.environ.get("SHOP_BROKER") or "redis"
        if broker not in BROKERS:
            raise ValueError(f"SHOP_BROKER={broker!r}: expected one of {', '.join(BROKERS)}")
        return cls(
            backend=backend,
            broker=broker,
            redis_url=os.environ.get("SHOP_REDIS_URL") or None,
            amqp_url=os.environ.get("SHOP_AMQP_URL") or None,
            database_url=os.environ.get("SHOP_DATABASE_URL") or None,
            var_dir=Path(var_dir).resolve(),
            smtp_port=int(os.environ.get("SHOP_SMTP_PORT") or 8025),
            smtp_host=os.environ.get("SHOP_SMTP_HOST") or "127.0.0.1",
            channel_dir=Path(channel_dir).resolve() if channel_dir else None,
            profile=profile,
            log_level=(os.environ.get("SHOP_LOG_LEVEL") or "WARNING").upper(),
            fast_faults=env_flag("SHOP_FAST_FAULTS"),
            debug=env_flag("SHOP_DEBUG"),
        )

    def require_redis_url(self) -> str:
        """The broker URL; every backend needs one and must never fall back to the machine's own Redis."""
        if not self.redis_url:
            raise ImproperlyConfigured(
                "SHOP_REDIS_URL is not set: point it at a private redis-server, e.g. redis://127.0.0.1:PORT/0"
            )
        return self.redis_url

    def require_amqp_url(self) -> str:
        """The RabbitMQ URL (``SHOP_BROKER=rabbitmq``); never a fallback to the machine's own node on 5672."""
        if not self.amqp_url:
            raise ImproperlyConfigured(
                "SHOP_AMQP_URL is not set: point it at a private RabbitMQ node, e.g. amqp://guest:guest@127.0.0.1:PORT/"
            )
        return self.amqp_url


class NonDefaultSettings(list[dict[str, object]]):
    """``BENCH_SETTINGS`` of a backend project: every setting that differs from the library's default in the active
    profile, with the reason; the harness records it in every results file."""

    def differs(self, setting: str, value: object, default: object, reason: str) -> None:
        """Record one non-default setting."""
        self.append({"setting": setting, "value": value, "default": default, "reason": reason})
