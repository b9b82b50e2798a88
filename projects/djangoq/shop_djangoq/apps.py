"""Django application configuration of the django-q2 project package."""

from django.apps import AppConfig


class ShopDjangoqConfig(AppConfig):
    """``shop_djangoq``: connects the "done" signal receiver at start-up (see ``shop_djangoq.confirm``)."""

    name = "shop_djangoq"

    def ready(self) -> None:
        from shop_djangoq import confirm

        confirm.connect()
