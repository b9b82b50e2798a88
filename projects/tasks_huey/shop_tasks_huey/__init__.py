"""The django.tasks project of the shop on Huey's backend (``huey.contrib.djhuey.tasks_backend``), on Redis."""
