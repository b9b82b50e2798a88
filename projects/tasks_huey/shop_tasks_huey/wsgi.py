"""WSGI entry point of the tasks_huey project (``shop_tasks_huey.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_tasks_huey.settings")

application = get_wsgi_application()
