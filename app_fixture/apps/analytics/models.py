from django.db import models


class DailyStat(models.Model):
    day = models.DateField()
    metric = models.CharField(max_length=64)
    value = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        unique_together = [("day", "metric")]
