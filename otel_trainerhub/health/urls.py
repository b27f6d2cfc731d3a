"""``path("", include("otel_trainerhub.health.urls"))``; with HEALTH_CHECK_ENABLED=false, no endpoints."""

from django.urls import URLPattern, path

from otel_trainerhub.health import views
from otel_trainerhub import current_settings

urlpatterns: list[URLPattern] = []
if current_settings().health_check_enabled:
    urlpatterns = [
        path("health/", views.health, name="health"),
        path("readiness/", views.readiness, name="readiness"),
        path("liveness/", views.liveness, name="liveness"),
        path("api/system-info/", views.system_info, name="system-info"),
    ]
