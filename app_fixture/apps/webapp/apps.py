from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.webapp"
    label = "webapp"
