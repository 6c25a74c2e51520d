import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The web process starts every database session without tenant or system rights (tenants/rls.py).
os.environ.setdefault("PORTAL_DB_CONTEXT", "none")
application = get_wsgi_application()
