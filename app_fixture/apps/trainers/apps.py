from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.trainers"
    label = "trainers"
