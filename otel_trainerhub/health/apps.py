from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "otel_trainerhub.health"
    label = "otel_trainerhub_health"
    verbose_name = "TrainerHub health checks"
