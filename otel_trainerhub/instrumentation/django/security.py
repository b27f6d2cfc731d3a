"""Security events: failed logins, failed API authentication, permission denials, admin
actions, on the ``otel_trainerhub.security`` logger with the user and source address."""

from __future__ import annotations

import logging
from typing import Any

import structlog

from otel_trainerhub import patches
from otel_trainerhub.instrumentation.django.identity import CURRENT_REQUEST, client_address, loaded_user

__all__ = ["connect_security_signals", "log_security_event"]

security_log = logging.getLogger("otel_trainerhub.security")


def log_security_event(event: str, request: Any = None, *, level: int = logging.WARNING, **fields: Any) -> None:
    """Log a security event (failed login, permission denied, admin action...) with the user and source address."""
    if request is not None:
        user = loaded_user(request)
        fields.setdefault("user_id", getattr(user, "pk", None))
        fields.setdefault("remote_addr", client_address(request))
        fields.setdefault("path", request.path)
        fields.setdefault("method", request.method)
    security_log.log(level, event, extra={"security_event": event, **fields})


def connect_security_signals() -> None:
    """Failed logins and admin actions from Django's own signals; the end of each request's log context."""
    from django.contrib.auth.signals import user_login_failed
    from django.core.signals import request_finished

    def end_of_request(**_: Any) -> None:
        structlog.contextvars.clear_contextvars()
        CURRENT_REQUEST.set(None)

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
