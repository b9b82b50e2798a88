"""WSGI entry point of the rq project (``shop_rq.wsgi:application``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_rq.settings")

application = get_wsgi_application()
