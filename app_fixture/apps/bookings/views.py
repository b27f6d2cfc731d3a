import logging
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.http import JsonResponse
from otel_trainerhub import business
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from apps.bookings.models import Booking
from apps.core.views import json_body, login_required_json
from apps.notifications.tasks import send_booking_confirmation
from apps.trainers.models import Service

log = logging.getLogger("apps.bookings")


def _booking_json(b):
    return {
        "id": b.pk,
        "trainer": b.trainer.user.get_full_name(),
        "service": b.service.name,
        "starts_at": b.starts_at.isoformat(),
        "status": b.status,
    }


@csrf_exempt
@login_required_json
def bookings(request):
    if request.method == "POST":
        return _create(request)
    user = request.user
    page = max(int(request.GET.get("page", "1") or 1), 1)
    qs = Booking.objects.select_related("trainer__user", "service")
    trainer = getattr(user, "trainer_profile", None) if user.role == user.TRAINER else None
    qs = qs.filter(trainer=trainer) if trainer else qs.filter(client=user)
    counts_key = f"booking-counts:{user.pk}"
    counts = cache.get(counts_key)
    if counts is None:
        counts = {s: qs.filter(status=s).count() for s in (Booking.PENDING, Booking.CONFIRMED)}
        cache.set(counts_key, counts, 60)
    items = [_booking_json(b) for b in qs[(page - 1) * 20 : page * 20]]
    return JsonResponse({"page": page, "counts": counts, "results": items})


def _create(request):
    data = json_body(request)
    if not data or "service" not in data or "starts_at" not in data:
        return JsonResponse({"error": "service and starts_at are required"}, status=400)
    try:
        starts_at = datetime.fromisoformat(data["starts_at"])
    except (TypeError, ValueError):
        return JsonResponse({"error": "starts_at must be an ISO 8601 datetime"}, status=400)
    if timezone.is_naive(starts_at):
        starts_at = timezone.make_aware(starts_at)
    service = Service.objects.select_related("trainer").filter(pk=data["service"]).first()
    if service is None:
        return JsonResponse({"error": "no such service"}, status=404)
    with transaction.atomic():
        clash = Booking.objects.filter(trainer=service.trainer, starts_at=starts_at).exclude(status=Booking.CANCELLED)
        if clash.exists():
            return JsonResponse({"error": "slot taken"}, status=409)
        booking = Booking.objects.create(
            client=request.user, trainer=service.trainer, service=service, starts_at=starts_at, notes=data.get("notes", "")
        )
    cache.delete_many([f"booking-counts:{request.user.pk}", f"schedule:{service.trainer_id}"])
    transaction.on_commit(lambda: send_booking_confirmation.delay(booking.pk))
    log.info("booking created", extra={"booking_id": booking.pk})
    business.booking_created()
    return JsonResponse({"id": booking.pk, "status": booking.status}, status=201)


@login_required_json
def invoice(request, booking_id):
    """Render an invoice. Has a bug on purpose: bookings without a payment raise."""
    booking = Booking.objects.select_related("service", "trainer__user").get(pk=booking_id, client=request.user)
    lines = {"service": booking.service.name, "price": str(booking.service.price)}
    # Bug kept for the error-tracking demo: the payment may not exist yet.
    lines["paid"] = str(booking.payment.amount)
    return JsonResponse({"booking": booking.pk, "lines": lines})
