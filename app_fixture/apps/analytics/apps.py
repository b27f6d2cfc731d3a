from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.analytics"
    label = "analytics"
