"""WSGI entry point of the djangoq project (``shop_djangoq.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_djangoq.settings")

application = get_wsgi_application()
