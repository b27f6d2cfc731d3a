from django.conf import settings
from django.db import models


class Notification(models.Model):
    EMAIL, SMS = "email", "sms"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=8, choices=[(EMAIL, "Email"), (SMS, "SMS")])
    template = models.CharField(max_length=64)
    status = models.CharField(max_length=16, default="sent")
    provider_reference = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(auto_now_add=True)
