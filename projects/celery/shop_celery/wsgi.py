"""WSGI entry point of the celery project (``shop_celery.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_celery.settings")

application = get_wsgi_application()
