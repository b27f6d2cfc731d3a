from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.notifications"
    label = "notifications"
