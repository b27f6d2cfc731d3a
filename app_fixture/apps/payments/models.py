from django.conf import settings
from django.db import models


class Payment(models.Model):
    PENDING, CAPTURED, FAILED = "pending", "captured", "failed"
    booking = models.OneToOneField("bookings.Booking", on_delete=models.CASCADE, related_name="payment")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=16, default=PENDING)
    provider_reference = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class Subscription(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.CharField(max_length=32)
    status = models.CharField(max_length=16, default="active")
    provider_reference = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
