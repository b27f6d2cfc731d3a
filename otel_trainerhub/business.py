"""Business metrics: what the Business dashboard shows, recorded by the application.

    from otel_trainerhub import business
    business.user_registered()
    business.booking_created()
    business.booking_completed(amount=55.00, currency="EUR")   # a paid booking: completion and revenue
    business.subscription_created(plan="pro", amount=29.00, currency="EUR")
    business.backup_completed()                               # from the backup job

Each call is a counter increment on the global meter provider (a no-op when telemetry is
off) and never raises into the caller. Prometheus names: ``trainerhub_users_registered_total``,
``trainerhub_bookings_created_total``, ``trainerhub_bookings_completed_total``,
``trainerhub_revenue_total{source, currency}``, ``trainerhub_subscriptions_created_total{plan}``,
``trainerhub_backup_last_success_seconds``.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

from opentelemetry import metrics

from otel_trainerhub.attributes import (
    BACKUP_LAST_SUCCESS,
    BOOKINGS_COMPLETED,
    BOOKINGS_CREATED,
    REVENUE,
    SUBSCRIPTIONS_CREATED,
    USERS_REGISTERED,
)

__all__ = ["backup_completed", "booking_completed", "booking_created", "subscription_created", "user_registered"]

_log = logging.getLogger("otel_trainerhub.business")


@functools.cache
def _instruments() -> dict[str, Any]:
    # Created on first use: by then configure() has installed the real meter provider.
    meter = metrics.get_meter("otel_trainerhub.business")
    return {
        "users": meter.create_counter(USERS_REGISTERED, unit="{user}", description="User registrations"),
        "bookings": meter.create_counter(BOOKINGS_CREATED, unit="{booking}", description="Bookings made"),
        "completed": meter.create_counter(BOOKINGS_COMPLETED, unit="{booking}", description="Bookings paid for"),
        "revenue": meter.create_counter(REVENUE, unit="1", description="Revenue captured, in the currency's major unit, by source and currency"),
        "subscriptions": meter.create_counter(SUBSCRIPTIONS_CREATED, unit="{subscription}", description="Subscriptions started, by plan"),
        "backup": meter.create_gauge(BACKUP_LAST_SUCCESS, unit="s", description="Unix time of the last successful backup"),
    }


def _safely(record: Any) -> Any:
    @functools.wraps(record)
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            record(*args, **kwargs)
        except Exception:  # a metric never breaks a request
            _log.debug("otel_trainerhub: business metric %s failed", record.__name__, exc_info=True)

    return call


@_safely
def user_registered() -> None:
    _instruments()["users"].add(1)


@_safely
def booking_created() -> None:
    _instruments()["bookings"].add(1)


@_safely
def booking_completed(*, amount: float, currency: str) -> None:
    revenue = float(amount)  # a bad amount records nothing, rather than half
    _instruments()["completed"].add(1)
    _instruments()["revenue"].add(revenue, {"source": "booking", "currency": currency.upper()})


@_safely
def subscription_created(*, plan: str, amount: float, currency: str) -> None:
    revenue = float(amount)
    _instruments()["subscriptions"].add(1, {"plan": plan})
    _instruments()["revenue"].add(revenue, {"source": "subscription", "currency": currency.upper()})


@_safely
def backup_completed(*, at: float | None = None) -> None:
    _instruments()["backup"].set(time.time() if at is None else at)
