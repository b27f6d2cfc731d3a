from django.conf import settings
from django.db import models


class Booking(models.Model):
    PENDING, CONFIRMED, CANCELLED, COMPLETED = "pending", "confirmed", "cancelled", "completed"
    STATUSES = [(s, s.title()) for s in (PENDING, CONFIRMED, CANCELLED, COMPLETED)]

    client = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bookings")
    trainer = models.ForeignKey("trainers.Trainer", on_delete=models.CASCADE, related_name="bookings")
    service = models.ForeignKey("trainers.Service", on_delete=models.PROTECT, related_name="bookings")
    starts_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=STATUSES, default=PENDING)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["trainer", "starts_at"]), models.Index(fields=["client", "-starts_at"])]
        ordering = ["-starts_at"]
