"""How TrainerHub is observed: the first import of manage.py, wsgi.py, asgi.py and the Celery app.

Normally ``import otel_trainerhub.auto``: everything configured from the environment,
before Django and Celery load. ``TRAINERHUB_OTEL=off`` runs without it, for the
benchmarks' comparison variants: nothing at all, the stock ``opentelemetry-instrument``
launcher around the process, or, with ``SENTRY_DSN`` set, sentry-sdk alone with its
Django, Celery and Redis integrations and ``traces_sample_rate`` (default 1.0), set up as
Sentry's documentation says.
"""

import os

if os.environ.get("TRAINERHUB_OTEL", "on").lower() != "off":
    import otel_trainerhub.auto  # noqa: F401
elif os.environ.get("SENTRY_DSN"):
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=os.environ["SENTRY_DSN"],
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        traces_sample_rate=float(os.environ.get("SENTRY_TRACES_SAMPLE_RATE", "1.0")),
        environment=os.environ.get("ENVIRONMENT", "development"),
    )
