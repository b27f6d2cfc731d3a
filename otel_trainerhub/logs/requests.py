"""Request logging, request ids, the remote address, and security events (the guide's Logging Best Practices)."""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from typing import Any

import structlog
from opentelemetry import trace

from otel_trainerhub import patches
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation.django_ import HybridMiddleware, is_untraced, loaded_user, trainer_id_of

__all__ = ["RequestLoggingMiddleware", "log_security_event", "client_address", "connect_security_signals"]

request_log = logging.getLogger("otel_trainerhub.request")
security_log = logging.getLogger("otel_trainerhub.security")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
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


def _request_id(request: Any) -> str:
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


def log_security_event(event: str, request: Any = None, *, level: int = logging.WARNING, **fields: Any) -> None:
    """Log a security event (failed login, permission denied, admin action...) with the user and source address."""
    if request is not None:
        user = loaded_user(request)
        fields.setdefault("user_id", getattr(user, "pk", None))
        fields.setdefault("remote_addr", client_address(request))
        fields.setdefault("path", request.path)
        fields.setdefault("method", request.method)
    security_log.log(level, event, extra={"security_event": event, **fields})


class RequestLoggingMiddleware(HybridMiddleware):
    """One line per request with the guide's fields; binds request_id for every line in between."""

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if is_untraced(request.path):
            return self.get_response(request)
        started = self._before(request)
        response = self.get_response(request)
        return self._after(request, response, started)

    async def _acall(self, request: Any) -> Any:
        if is_untraced(request.path):
            return await self.get_response(request)
        started = self._before(request)
        response = await self.get_response(request)
        return self._after(request, response, started)

    def _before(self, request: Any) -> float:
        structlog.contextvars.clear_contextvars()
        request.request_id = _request_id(request)
        # The server span's ids are bound too: Django logs 4xx/5xx responses ("Not Found: ...")
        # after the middleware chain, when the span is no longer current.
        context = trace.get_current_span().get_span_context()
        ids = {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")} if context.is_valid else {}
        structlog.contextvars.bind_contextvars(request_id=request.request_id, **ids)
        return time.perf_counter()

    def _after(self, request: Any, response: Any, started: float) -> Any:
        try:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            user = loaded_user(request)
            user_id = getattr(user, "pk", None)
            trainer_id = trainer_id_of(request, user)
            structlog.contextvars.bind_contextvars(user_id=user_id, trainer_id=trainer_id)
            status = response.status_code
            if status == 403:
                log_security_event("permission denied", request)
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            request_log.log(
                level,
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status_code": status,
                    "duration_ms": duration_ms,
                    "user_agent": request.META.get("HTTP_USER_AGENT", ""),
                    "remote_addr": client_address(request),
                },
            )
            response["X-Request-ID"] = request.request_id
        except Exception:  # logging must never fail the request
            swallowed("request log")
        # The context stays bound until Django's request_finished (see connect_security_signals).
        return response


def connect_security_signals() -> None:
    """Failed logins and admin actions from Django's own signals; the end of each request's log context."""
    from django.contrib.auth.signals import user_login_failed
    from django.core.signals import request_finished

    def end_of_request(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()

    patches.connect(request_finished, end_of_request, "end_of_request")

    def login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **_: Any) -> None:
        log_security_event("login failed", request, username=credentials.get("username"))

    patches.connect(user_login_failed, login_failed, "login_failed")

    from django.apps import apps

    if apps.is_installed("django.contrib.admin"):
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        def admin_action(sender: Any, instance: Any, created: bool, **_: Any) -> None:
            if created:
                security_log.info(
                    "admin action",
                    extra={
                        "security_event": "admin action",
                        "user_id": instance.user_id,
                        "action": {1: "add", 2: "change", 3: "delete"}.get(instance.action_flag, instance.action_flag),
                        "object_type": str(instance.content_type) if instance.content_type_id else None,
                        "object_id": instance.object_id,
                    },
                )

        patches.connect(post_save, admin_action, "admin_action", sender=LogEntry)
