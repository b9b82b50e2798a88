"""The Celery application, exactly as the "First steps with Django" tutorial writes it."""

import os

from celery import Celery

# Set the default Django settings module for the 'celery' program.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_celery.settings")

app = Celery("shop_celery")

# All Celery settings live in Django's settings with a ``CELERY_`` prefix.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Load the tasks.py module of every installed app (shop_celery is one).
app.autodiscover_tasks()
