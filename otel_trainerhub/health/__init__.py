"""Health endpoints for Django: /health/, /readiness/, /liveness/, /api/system-info/.

Add ``"otel_trainerhub.health"`` to ``INSTALLED_APPS`` and
``path("", include("otel_trainerhub.health.urls"))`` to the URLconf.
"""
