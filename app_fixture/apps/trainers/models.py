from django.conf import settings
from django.db import models


class Trainer(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trainer_profile")
    bio = models.TextField(blank=True)
    specialties = models.CharField(max_length=200, blank=True)
    hourly_rate = models.DecimalField(max_digits=8, decimal_places=2)
    city = models.CharField(max_length=80, blank=True)

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.username


class Service(models.Model):
    trainer = models.ForeignKey(Trainer, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=120)
    duration_minutes = models.PositiveIntegerField(default=60)
    price = models.DecimalField(max_digits=8, decimal_places=2)
