from datetime import timedelta

from django.core.cache import cache
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.bookings.models import Booking
from apps.trainers.models import Trainer


def trainer_directory(request):
    """Every trainer with their services.

    Written the way it often is at first: one query for the trainers, then one more per
    trainer for the user and one per trainer for the services (an N+1 on purpose, for
    the span processors to find).
    """
    trainers = []
    for trainer in Trainer.objects.order_by("id")[:25]:
        trainers.append(
            {
                "id": trainer.pk,
                "name": trainer.user.get_full_name(),
                "city": trainer.city,
                "services": [{"id": s.pk, "name": s.name, "price": str(s.price)} for s in trainer.services.all()],
            }
        )
    return JsonResponse({"trainers": trainers})


def schedule(request, trainer_id):
    key = f"schedule:{trainer_id}"
    cached = cache.get(key)
    if cached is not None:
        return JsonResponse(cached)
    trainer = get_object_or_404(Trainer.objects.select_related("user"), pk=trainer_id)
    now = timezone.now()
    upcoming = (
        Booking.objects.filter(trainer=trainer, starts_at__gte=now, starts_at__lt=now + timedelta(days=14))
        .exclude(status=Booking.CANCELLED)
        .select_related("service")
        .order_by("starts_at")
    )
    payload = {
        "trainer": {"id": trainer.pk, "name": trainer.user.get_full_name()},
        "slots": [
            {"booking": b.pk, "starts_at": b.starts_at.isoformat(), "service": b.service.name, "minutes": b.service.duration_minutes}
            for b in upcoming
        ],
    }
    cache.set(key, payload, 30)
    return JsonResponse(payload)
