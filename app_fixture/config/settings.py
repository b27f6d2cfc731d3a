"""TrainerHub settings, from the environment.

With nothing configured it runs on embedded defaults (SQLite, local-memory cache,
Celery tasks run in-process) so the demo works on a bare machine; with DATABASE_URL and
REDIS_URL it runs on PostgreSQL and Redis as in production.
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("TRAINERHUB_VAR_DIR", BASE_DIR.parent / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-fixture-key-do-not-use-in-production")
DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() == "true"
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "apps.core",
    "apps.users",
    "apps.trainers",
    "apps.bookings",
    "apps.payments",
    "apps.notifications",
    "apps.analytics",
    "apps.webapp",
    "otel_trainerhub.health",
    "corsheaders",
]

MIDDLEWARE = [
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.TokenAuthMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "users.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
TEMPLATES: list = []


def _database(url):
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "trainerhub.sqlite3")}
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got scheme {parts.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": parts.port or 5432,
        "CONN_MAX_AGE": 0 if _pool() else 600,  # the guide's connection pooling
        "OPTIONS": {"pool": _pool()} if _pool() else {},
        "TEST": {"NAME": os.environ.get("TRAINERHUB_TEST_DB_NAME")},
    }


def _pool():
    """Django's psycopg pool instead of persistent connections when DATABASE_POOL_MAX_SIZE is set."""
    size = os.environ.get("DATABASE_POOL_MAX_SIZE")
    if not size:
        return None
    return {"min_size": 1, "max_size": int(size), "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "10"))}


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}

REDIS_URL = os.environ.get("REDIS_URL", "").rstrip("/")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"{REDIS_URL}/1"}}
    CELERY_BROKER_URL = f"{REDIS_URL}/0"
    CELERY_RESULT_BACKEND = f"{REDIS_URL}/2"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True  # the embedded demo runs tasks in-process
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Outbound providers (email, SMS, payments). Each is an HTTP API; the fixture's
# provider sandbox (python -m apps.core.provider_sandbox) stands in for them locally.
PROVIDERS_BASE_URL = os.environ.get("PROVIDERS_BASE_URL", "http://127.0.0.1:8765")
SENDGRID_API_KEY = os.environ.get("SENDGRID_API_KEY", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY", "")
PROVIDER_TIMEOUT_SECONDS = float(os.environ.get("PROVIDER_TIMEOUT_SECONDS", "5"))

# The deliberately slow report: how long its "warehouse query" takes.
REPORT_DELAY_SECONDS = float(os.environ.get("REPORT_DELAY_SECONDS", "0.8"))
# ...and the slow statement's (api/reports/utilisation/), over SLOW_QUERY_THRESHOLD's 0.1 s.
UTILISATION_QUERY_SECONDS = float(os.environ.get("UTILISATION_QUERY_SECONDS", "0.15"))

TRAINERHUB_TRAINER_RELATION = "trainer_profile"
# /health/ shows whether each provider's key is configured (never the key).
TRAINERHUB_HEALTH_PROVIDERS = {"sendgrid": "SENDGRID_API_KEY", "twilio": "TWILIO_AUTH_TOKEN", "stripe": "STRIPE_SECRET_KEY"}

# The trainer app (apps.webapp, built from frontend/) and its browser telemetry. The API
# answers cross-origin requests only from FRONTEND_ORIGINS (comma-separated origins) and
# accepts the trace context headers from them, so a trainer app served from another origin
# joins its traces to the API's.
def _origins(name):
    """A list of origins: ["https://app.example.com"] (the collector's form) or comma-separated."""
    import json

    raw = os.environ.get(name, "").strip()
    if not raw.startswith("["):
        return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]
    try:
        origins = json.loads(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be a list of origins like [\"https://app.example.com\"], got {raw[:200]!r}: {error}") from None
    if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
        raise ValueError(f"{name} must be a list of origin strings, got {raw[:200]!r}")
    return [o.strip().rstrip("/") for o in origins]


FRONTEND_ORIGINS = _origins("FRONTEND_ORIGINS")
CORS_ALLOWED_ORIGINS = FRONTEND_ORIGINS
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "traceparent", "tracestate")
FRONTEND_DIST = os.environ.get("FRONTEND_DIST", str(BASE_DIR.parent / "frontend" / "dist"))
FRONTEND_OTLP_URL = os.environ.get("FRONTEND_OTLP_URL", "http://127.0.0.1:4328")
FRONTEND_API_ORIGINS = _origins("FRONTEND_API_ORIGINS")
FRONTEND_SERVICE_NAME = os.environ.get("FRONTEND_SERVICE_NAME", "trainerhub-web")
FRONTEND_ENVIRONMENT = os.environ.get("FRONTEND_ENVIRONMENT", "development")
FRONTEND_SENTRY_DSN = os.environ.get("FRONTEND_SENTRY_DSN", "")
