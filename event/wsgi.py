"""gunicorn entry point: `gunicorn event.wsgi:app`."""

from event.app import create_app
from event.settings import EventSettings
from shared.boot import boot

app = boot("event", EventSettings, create_app)
