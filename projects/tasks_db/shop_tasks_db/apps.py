"""The project package as a Django app, so that the shop's tasks and their confirmed-done receiver load at start-up."""

from django.apps import AppConfig


class ShopTasksDbConfig(AppConfig):
    """Connects ``shop.dtasks``' receiver when Django is ready: db_worker imports a task module only when it first
    runs one of its tasks, and the ``task_finished`` receiver must be connected before the first task finishes."""

    name = "shop_tasks_db"

    def ready(self) -> None:
        """django-tasks-db sends the framework's ``task_finished`` after it saved the SUCCESSFUL row."""
        from shop.dtasks.compat import task_finished
        from shop.dtasks.tasks import connect_confirmation

        connect_confirmation(task_finished)
