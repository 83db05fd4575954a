"""gunicorn entry point: `gunicorn job.wsgi:app`."""

from job.app import create_app
from job.settings import JobSettings
from shared.boot import boot

app = boot("job", JobSettings, create_app)
