"""WSGI entry point of the tasks_db project (``shop_tasks_db.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_tasks_db.settings")

application = get_wsgi_application()
