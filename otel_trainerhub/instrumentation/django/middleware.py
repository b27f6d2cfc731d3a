"""The middleware we add to ``MIDDLEWARE``: untraced paths (probes and scrapes run with
instrumentation suppressed) and the request log line, with the request id bound for every
line logged in between (the guide's Logging Best Practices)."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.context import attach, detach

from otel_trainerhub import _sdk
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation.django.identity import CURRENT_REQUEST, client_address, loaded_user, trainer_id_of
from otel_trainerhub.instrumentation.django.security import log_security_event

__all__ = ["RequestLoggingMiddleware", "UntracedPathsMiddleware", "arun_untraced", "dotted", "is_untraced", "run_untraced", "set_untraced_paths"]

request_log = logging.getLogger("otel_trainerhub.request")
_untraced_paths: tuple[str, ...] = ()

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def set_untraced_paths(paths: tuple[str, ...]) -> None:
    global _untraced_paths
    _untraced_paths = paths


def untraced_paths() -> tuple[str, ...]:
    return _untraced_paths


def is_untraced(path: str) -> bool:
    for prefix in _untraced_paths:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


class HybridMiddleware:
    """A middleware for sync and async stacks alike: ``__call__`` answers sync, ``_acall`` async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]


def run_untraced(get_response: Callable[[Any], Any], request: Any) -> Any:
    """``get_response(request)`` with instrumentation suppressed, its SQL and Redis included."""
    token = attach(_sdk.suppressed_context())
    try:
        return get_response(request)
    finally:
        detach(token)


async def arun_untraced(get_response: Callable[[Any], Awaitable[Any]], request: Any) -> Any:
    """:func:`run_untraced` for an async stack."""
    token = attach(_sdk.suppressed_context())
    try:
        return await get_response(request)
    finally:
        detach(token)


class UntracedPathsMiddleware(HybridMiddleware):
    """Runs probe and scrape requests with instrumentation suppressed, their SQL and Redis included."""

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if not is_untraced(request.path):
            return self.get_response(request)
        return run_untraced(self.get_response, request)

    async def _acall(self, request: Any) -> Any:
        if not is_untraced(request.path):
            return await self.get_response(request)
        return await arun_untraced(self.get_response, request)


def _request_id(request: Any) -> str:
    incoming: str = request.META.get("HTTP_X_REQUEST_ID", "")
    if _REQUEST_ID.match(incoming):
        return incoming
    # 128 random bits, as uuid4().hex gives, from the generator the SDK draws trace ids
    # from (reseeded in every forked child) rather than an os.urandom syscall per request.
    return "%032x" % random.getrandbits(128)


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
        CURRENT_REQUEST.set(request)
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


def dotted(cls: type) -> str:
    """The dotted path ``MIDDLEWARE`` names ``cls`` by."""
    return f"{cls.__module__}.{cls.__qualname__}"
