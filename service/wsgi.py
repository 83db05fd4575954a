"""gunicorn entry point: `gunicorn service.wsgi:app`."""

from service.app import create_app
from service.settings import ServiceSettings
from shared.boot import boot

app = boot("service", ServiceSettings, create_app)
