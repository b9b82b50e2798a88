"""System checks: bad shop configuration is reported at start-up (``manage.py check``/``migrate``/``runserver``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def check_queue_setting(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``SHOP_QUEUE`` must name the backend's enqueue callable: without it no page can enqueue anything."""
    if getattr(settings, "SHOP_QUEUE", None):
        return []
    return [
        Error(
            "settings.SHOP_QUEUE is not set.",
            hint='Set it to the dotted path of the backend\'s enqueue callable, e.g. "shop_celery.queue.enqueue".',
            id="shop.E001",
        )
    ]
