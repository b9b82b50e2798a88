"""The project package as a Django app, so that its tasks (and their confirmed-done receiver) load at start-up."""

from django.apps import AppConfig


class ShopTasksHueyConfig(AppConfig):
    """Imports ``tasks`` when Django is ready: the ``task_finished`` receiver must be connected in every process
    (run_huey's workers, the web server) before the first task finishes; importing the tasks also instantiates
    Huey's tasks backend, which registers its one Huey task (``djtasks.run``) with the consumer."""

    name = "shop_tasks_huey"

    def ready(self) -> None:
        from shop_tasks_huey import tasks  # noqa: F401 - connects the receiver
