import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import JsonResponse
from django.utils import timezone

from apps.bookings.models import Booking
from apps.payments.models import Payment


def revenue_report(request):
    """Revenue per day over 30 days: the slow endpoint.

    The aggregate stands for a warehouse query that takes REPORT_DELAY_SECONDS
    (a sleep, so the slowness is the same on every machine).
    """
    since = timezone.now() - timedelta(days=30)
    time.sleep(settings.REPORT_DELAY_SECONDS)
    revenue = Payment.objects.filter(status=Payment.CAPTURED, created_at__gte=since).aggregate(total=Sum("amount"))
    by_status = dict(Booking.objects.values_list("status").annotate(n=Count("id")))
    return JsonResponse({"since": since.date().isoformat(), "revenue": str(revenue["total"] or 0), "bookings": by_status})


def trainer_utilisation(request):
    """Bookings per trainer: the slow *statement* (on PostgreSQL it waits UTILISATION_QUERY_SECONDS
    inside the database, as a heavy aggregate over a big table would); the request stays fast."""
    pause = ", (SELECT pg_sleep(%s)) AS pause" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT b.trainer_id, COUNT(*) FROM "bookings_booking" b{pause} GROUP BY b.trainer_id ORDER BY 2 DESC',
            [settings.UTILISATION_QUERY_SECONDS] if pause else [],
        )
        rows = cursor.fetchall()
    return JsonResponse({"trainers": [{"trainer": trainer, "bookings": n} for trainer, n in rows]})
