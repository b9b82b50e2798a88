"""WSGI entry point of the dramatiq project (``shop_dramatiq.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_dramatiq.settings")

application = get_wsgi_application()
