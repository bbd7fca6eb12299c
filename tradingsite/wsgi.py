"""WSGI entry point (gunicorn tradingsite.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")

application = get_wsgi_application()
