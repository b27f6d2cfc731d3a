"""Clients of the external providers: SendGrid-style email, Twilio-style SMS, Stripe-style payments.

Each is one HTTP call through ``requests``; credentials go in headers, never in URLs.
"""

import logging

import requests
from django.conf import settings

log = logging.getLogger("apps.core.providers")
_session = requests.Session()


class ProviderError(Exception):
    pass


def _post(path: str, payload: dict, api_key: str) -> dict:
    url = f"{settings.PROVIDERS_BASE_URL}{path}"
    try:
        response = _session.post(
            url,
            json=payload,
            headers={"Authorization": f"Bearer {api_key or 'unset'}"},
            timeout=settings.PROVIDER_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        raise ProviderError(f"{path}: {exc.__class__.__name__}") from exc
    if response.status_code >= 400:
        raise ProviderError(f"{path}: HTTP {response.status_code}")
    return response.json()


def send_email(to: str, template: str, context: dict) -> str:
    return _post("/email/v3/mail/send", {"to": to, "template": template, "context": context}, settings.SENDGRID_API_KEY)["id"]


def send_sms(to: str, body: str) -> str:
    return _post("/sms/2010-04-01/Messages", {"to": to, "body": body}, settings.TWILIO_AUTH_TOKEN)["id"]


def charge(amount_cents: int, currency: str, reference: str, card: str = "") -> str:
    payload = {"amount": amount_cents, "currency": currency, "reference": reference}
    if card:
        payload["card_number"] = card
    return _post("/payments/v1/charges", payload, settings.STRIPE_SECRET_KEY)["id"]
