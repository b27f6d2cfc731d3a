from django.apps import AppConfig


class Config(AppConfig):
    name = "apps.bookings"
    label = "bookings"
