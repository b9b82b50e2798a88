"""The django.tasks project of the shop on RQ (Django's Tasks framework with the django-tasks-rq backend)."""
