import logging
from datetime import timedelta

from celery import shared_task
from django.core.cache import cache
from django.db.models import Count, Sum
from django.utils import timezone

from apps.analytics.models import DailyStat
from apps.bookings.models import Booking
from apps.payments.models import Payment

log = logging.getLogger("apps.analytics")


@shared_task
def rollup_daily_stats(days: int = 1) -> int:
    """Aggregate yesterday's (or the last ``days`` days') bookings and revenue into DailyStat rows."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    today = timezone.now().date()
    written = 0
    for offset in range(1, days + 1):
        day = today - timedelta(days=offset)
        bookings = Booking.objects.filter(created_at__date=day).aggregate(n=Count("id"))["n"]
        revenue = Payment.objects.filter(status=Payment.CAPTURED, created_at__date=day).aggregate(t=Sum("amount"))["t"]
        for metric, value in (("bookings", bookings or 0), ("revenue", revenue or 0)):
            DailyStat.objects.update_or_create(day=day, metric=metric, defaults={"value": value})
            written += 1
    cache.set("analytics:last-rollup", timezone.now().isoformat(), None)
    log.info("daily stats rolled up", extra={"rows": written})
    return written
