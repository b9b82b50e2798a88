"""The project package as a Django app, so that its tasks (and their confirmed-done receiver) load at start-up."""

from django.apps import AppConfig


class ShopTasksDbConfig(AppConfig):
    """Imports ``tasks`` when Django is ready: db_worker imports a task module only when it first runs one of its
    tasks, and the ``task_finished`` receiver must be connected before the first task finishes."""

    name = "shop_tasks_db"

    def ready(self) -> None:
        from shop_tasks_db import tasks  # noqa: F401 - connects the receiver
