from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.payments"
    label = "payments"
