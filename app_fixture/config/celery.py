import config.observability  # noqa: F401  (first: instruments before Celery and Django load)

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("trainerhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
