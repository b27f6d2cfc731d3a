"""A small discussion forum: not TrainerHub. Its own LOGGING, ADMINS and e-mail settings,
a DRF router and a ``path("")`` home page, on Django 4.2 pins (requirements-django42.txt)."""

import os
from urllib.parse import urlsplit

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "forum-test-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "forum",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.middleware.security.SecurityMiddleware",
]
ROOT_URLCONF = "forum.urls"
WSGI_APPLICATION = "forum.wsgi.application"

_db = urlsplit(os.environ["FORUM_DATABASE_URL"])
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username,
        "PASSWORD": _db.password,
        "HOST": _db.hostname,
        "PORT": _db.port or 5432,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

# 500s are e-mailed to ADMINS by Django's AdminEmailHandler; the file backend is the outbox.
ADMINS = [("Forum Ops", "ops@forum.example")]
SERVER_EMAIL = "django@forum.example"
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["FORUM_OUTBOX"]

# The project's own logging: a file of its own for the "forum" logger and for the root
# logger's warnings (Django's "Not Found" lines among them), Django's defaults kept.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "forum_file": {"class": "logging.FileHandler", "filename": os.environ["FORUM_LOG_FILE"], "formatter": "plain"},
    },
    "root": {"handlers": ["forum_file"], "level": "WARNING"},
    "loggers": {
        "forum": {"handlers": ["forum_file"], "level": "INFO", "propagate": False},
    },
}
