from django.urls import include, path

from apps.analytics import views as analytics
from apps.bookings import views as bookings
from apps.core import async_views
from apps.core import views as core
from apps.payments import views as payments
from apps.trainers import views as trainers
from apps.users import views as users
from apps.webapp import views as webapp

urlpatterns = [
    path("api/ping/", core.ping, name="ping"),
    path("api/users/register/", users.register, name="register"),
    path("api/trainers/", trainers.trainer_directory, name="trainer-directory"),
    path("api/trainers/<int:trainer_id>/schedule/", trainers.schedule, name="trainer-schedule"),
    path("api/bookings/", bookings.bookings, name="bookings"),
    path("api/bookings/<int:booking_id>/invoice/", bookings.invoice, name="booking-invoice"),
    path("api/payments/<int:booking_id>/capture/", payments.capture, name="payment-capture"),
    path("api/subscriptions/", payments.subscribe, name="subscribe"),
    path("api/reports/revenue/", analytics.revenue_report, name="revenue-report"),
    path("api/reports/utilisation/", analytics.trainer_utilisation, name="utilisation-report"),
    path("api/async/trainers/", async_views.trainers, name="async-trainers"),
    path("api/async/interleaved/", async_views.interleaved, name="async-interleaved"),
    path("api/async/fail/", async_views.fail, name="async-fail"),
    path("api/stream/", async_views.stream, name="stream"),
    path("api/async/stream/", async_views.async_stream, name="async-stream"),
    path("trainer/", webapp.trainer_app, name="trainer-app"),
    path("trainer/static/<str:name>", webapp.bundle, name="trainer-app-bundle"),
    path("", include("otel_trainerhub.health.urls")),
]
