"""The Celery project of the shop, set up as in Celery's "First steps with Django" tutorial."""

# Importing the app here makes sure it is loaded when Django starts, so that @shared_task uses it.
from .celery import app as celery_app

__all__ = ("celery_app",)
