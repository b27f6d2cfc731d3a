import logging

from celery import shared_task
from django.core.cache import cache

from apps.bookings.models import Booking
from apps.core import providers
from apps.notifications.models import Notification

log = logging.getLogger("apps.notifications")


@shared_task(bind=True, max_retries=3, default_retry_delay=5)
def send_booking_confirmation(self, booking_id: int) -> str:
    booking = Booking.objects.select_related("client", "trainer__user", "service").get(pk=booking_id)
    try:
        reference = providers.send_email(
            booking.client.email or f"{booking.client.username}@example.invalid",
            "booking_confirmation",
            {"trainer": booking.trainer.user.get_full_name(), "starts_at": booking.starts_at.isoformat()},
        )
    except providers.ProviderError as exc:
        raise self.retry(exc=exc)
    Notification.objects.create(user=booking.client, channel=Notification.EMAIL, template="booking_confirmation", provider_reference=reference)
    sent = cache.get_or_set("notifications:emails-sent", 0, None)
    cache.set("notifications:emails-sent", int(sent) + 1, None)
    return reference


@shared_task(bind=True, max_retries=3, default_retry_delay=30)
def send_sms_reminder(self, booking_id: int) -> str:
    booking = Booking.objects.select_related("client", "service").get(pk=booking_id)
    if not booking.client.phone:
        return ""
    try:
        reference = providers.send_sms(booking.client.phone, f"Reminder: {booking.service.name} at {booking.starts_at:%H:%M}")
    except providers.ProviderError as exc:
        raise self.retry(exc=exc)
    Notification.objects.create(user=booking.client, channel=Notification.SMS, template="reminder", provider_reference=reference)
    return reference
