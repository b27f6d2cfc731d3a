# gunicorn settings for the fixture. The app module (config.wsgi) imports
# otel_trainerhub.auto first; with --preload that happens once in the master, and the
# fork path in otel_trainerhub.export.fork gives each worker its own exporter and pid.
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
preload_app = True
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
graceful_timeout = 10
accesslog = None
