import logging
from decimal import Decimal

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from otel_trainerhub import business

from apps.bookings.models import Booking
from apps.core import providers
from apps.core.views import json_body, login_required_json
from apps.payments.models import Payment, Subscription

log = logging.getLogger("apps.payments")

PLANS = {"basic": Decimal("19.00"), "pro": Decimal("49.00")}


@csrf_exempt
@require_POST
@login_required_json
def capture(request, booking_id):
    booking = Booking.objects.select_related("service").filter(pk=booking_id, client=request.user).first()
    if booking is None:
        return JsonResponse({"error": "no such booking"}, status=404)
    payment, _ = Payment.objects.get_or_create(booking=booking, defaults={"amount": booking.service.price})
    if payment.status == Payment.CAPTURED:
        return JsonResponse({"id": payment.pk, "status": payment.status})
    try:
        payment.provider_reference = providers.charge(int(payment.amount * 100), payment.currency, f"booking-{booking.pk}")
        payment.status = Payment.CAPTURED
    except providers.ProviderError as exc:
        payment.status = Payment.FAILED
        log.warning("payment declined", extra={"booking_id": booking.pk, "reason": str(exc)})
    payment.save(update_fields=["status", "provider_reference"])
    if payment.status == Payment.CAPTURED:
        Booking.objects.filter(pk=booking.pk).update(status=Booking.CONFIRMED)
        business.booking_completed(amount=float(payment.amount), currency=payment.currency)
    return JsonResponse({"id": payment.pk, "status": payment.status}, status=200 if payment.status == Payment.CAPTURED else 402)


@csrf_exempt
@require_POST
@login_required_json
def subscribe(request):
    data = json_body(request) or {}
    plan = data.get("plan")
    if plan not in PLANS:
        return JsonResponse({"error": f"plan must be one of {sorted(PLANS)}"}, status=400)
    card = data.get("card_number", "")
    if card and not card.replace(" ", "").isdigit():
        # Raised with the card in the message, as real code sometimes does.
        raise ValueError(f"malformed card number {card!r} for {request.user.email}")
    try:
        reference = providers.charge(int(PLANS[plan] * 100), "EUR", f"subscription-{request.user.pk}-{plan}", card=card)
    except providers.ProviderError as exc:
        log.error("subscription charge failed for %s: %s", data, exc)
        return JsonResponse({"error": "payment declined"}, status=402)
    sub = Subscription.objects.create(user=request.user, plan=plan, provider_reference=reference)
    business.subscription_created(plan=plan, amount=float(PLANS[plan]), currency="EUR")
    return JsonResponse({"id": sub.pk, "plan": plan, "status": sub.status}, status=201)
