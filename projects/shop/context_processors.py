"""Template context every shop page gets."""

from django.conf import settings
from django.http import HttpRequest


def shop(request: HttpRequest) -> dict[str, str]:
    """The backend this project runs on, shown in the page header."""
    return {"shop_backend": str(getattr(settings, "SHOP_BACKEND_NAME", ""))}
