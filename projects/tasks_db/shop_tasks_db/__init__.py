"""The django.tasks project of the shop on django-tasks-db's DatabaseBackend (no Redis: the queue is a table)."""
