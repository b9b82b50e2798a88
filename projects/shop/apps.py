"""Django application configuration of the shop."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The shop app; start-up only registers system checks, so worker boot time stays the library's own."""

    name = "shop"
    verbose_name = "Demo shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shop import checks  # noqa: F401  (registers the system checks)
