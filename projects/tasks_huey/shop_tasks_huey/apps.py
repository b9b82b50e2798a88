"""The project package as a Django app, so that the shop's tasks and their confirmed-done receiver load at start-up."""

from django.apps import AppConfig


class ShopTasksHueyConfig(AppConfig):
    """Connects ``shop.dtasks``' receiver in every process (run_huey's workers, the web server) before the first task
    finishes; importing the tasks also instantiates Huey's tasks backend, which registers its one Huey task
    (``djtasks.run``) with the consumer."""

    name = "shop_tasks_huey"

    def ready(self) -> None:
        """Huey's backend sends the framework's ``task_finished`` after it stored the SUCCESSFUL record (``_finish``:
        ``HUEY.put_result``)."""
        from shop.dtasks.compat import task_finished
        from shop.dtasks.tasks import connect_confirmation

        connect_confirmation(task_finished)
