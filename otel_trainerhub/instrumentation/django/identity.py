"""Who made the request and from where: the user and trainer (only when the view already
loaded them: never a query of ours), and the client address behind trusted proxies."""

from __future__ import annotations

import ipaddress
from contextvars import ContextVar
from typing import Any

__all__ = ["CURRENT_REQUEST", "client_address", "configure_proxy", "current_identity", "loaded_user", "trainer_id_of"]

#: The request being served (set by the request-log middleware, cleared at request_finished).
CURRENT_REQUEST: ContextVar[Any] = ContextVar("otel_trainerhub_request", default=None)

# A Django setting naming the one-to-one relation from the user to their trainer profile.
TRAINER_RELATION_SETTING = "TRAINERHUB_TRAINER_RELATION"

_proxy_header: str | None = None  # the META key, e.g. HTTP_X_FORWARDED_FOR


_proxy_count = 1


def configure_proxy(header: str | None, count: int) -> None:
    global _proxy_header, _proxy_count
    _proxy_header = "HTTP_" + header.upper().replace("-", "_") if header else None
    _proxy_count = count


def client_address(request: Any) -> str | None:
    """REMOTE_ADDR, or the address the configured trusted proxies put in their header.

    With ``LOG_TRUSTED_PROXY_HEADER=X-Forwarded-For`` and ``LOG_TRUSTED_PROXY_COUNT=N``,
    the address N hops from the right: what the client wrote further left is not trusted.
    """
    remote: str | None = request.META.get("REMOTE_ADDR")
    if _proxy_header is None:
        return remote
    hops = [h.strip() for h in request.META.get(_proxy_header, "").split(",") if h.strip()]
    if len(hops) < _proxy_count:
        return remote
    candidate = hops[-_proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def loaded_user(request: Any) -> Any:
    """The request's user if something already loaded it; never triggers a session or DB lookup."""
    user = getattr(request, "_cached_user", None)
    if user is None:
        lazy = request.__dict__.get("user")
        if lazy is None:
            return None
        wrapped = getattr(lazy, "_wrapped", lazy)
        from django.utils.functional import empty

        if wrapped is empty:
            return None
        user = wrapped
    return user if getattr(user, "is_authenticated", False) else None


def trainer_id_of(request: Any, user: Any) -> Any:
    explicit = getattr(request, "trainer_id", None)
    if explicit is not None:
        return explicit
    if user is None:
        return None
    from django.conf import settings

    relation = getattr(settings, TRAINER_RELATION_SETTING, "trainer_profile")
    from django.core.exceptions import FieldDoesNotExist

    try:
        field = user._meta.get_field(relation)
    except FieldDoesNotExist:  # a user model without a trainer relation
        return None
    # Only a relation the view already loaded: a span attribute is never worth a query.
    if not field.is_cached(user):
        return None
    trainer = field.get_cached_value(user)
    return getattr(trainer, "pk", None)


def current_identity() -> dict[str, Any]:
    """The current request's user and trainer, once the application has loaded them: so lines
    logged in the view (and the tasks it enqueues) carry them, not only the request line."""
    request = CURRENT_REQUEST.get()
    user = loaded_user(request) if request is not None else None
    if user is None:
        return {}
    return {"user_id": user.pk, "trainer_id": trainer_id_of(request, user)}
