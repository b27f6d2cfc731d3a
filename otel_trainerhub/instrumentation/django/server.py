"""The server span of a Django request, from one middleware of ours (the lean path).

contrib's Django middleware pays, on every request, for what most projects never use: the
full URL built four times to test excluded URLs, the path resolved once more for the span
name, two context attaches, semantic-convention mode filtering and http.server.* metric
operations whose meter is a no-op (spanmetrics counts requests). This middleware makes the
same span (name, kind, attributes from contrib's own ``collect_request_attributes``, status,
exception event, instrumentation scope) with only the work it needs: the span is named after
the route when Django has resolved it (``process_view``), one attach, no URL rebuilt.

Whatever contrib does beyond that default (the ``OTEL_SEMCONV_STABILITY_OPT_IN`` HTTP modes,
captured headers, traced request attributes, the http.server.* metrics) is still served by
contrib's middleware: :func:`lean_supported` says which one a process gets.
"""

from __future__ import annotations

import os
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from contextvars import Token
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context, attach, detach, get_current
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.utils import http_status_to_status_code
from opentelemetry.instrumentation.wsgi import collect_request_attributes, wsgi_getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.util.http import sanitize_method

from otel_trainerhub.attributes import REQUEST_ABANDONED, TRAINER_ID
from otel_trainerhub.contain import swallowed
from otel_trainerhub.failure import record_failure
from otel_trainerhub.instrumentation.django import routes
from otel_trainerhub.instrumentation.django.identity import loaded_user, trainer_id_of
from otel_trainerhub.instrumentation.django.middleware import HybridMiddleware, arun_untraced, is_untraced, run_untraced
from otel_trainerhub.instrumentation.django.streaming import defer_end_until_streamed

__all__ = ["ServerSpanMiddleware", "describe_response", "lean_supported", "name_by_route", "set_tracer"]

#: contrib's options that only its middleware implements (read by contrib from the environment).
CONTRIB_ONLY_VARIABLES = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
    "OTEL_PYTHON_DJANGO_TRACED_REQUEST_ATTRS",
)
#: The scope contrib's spans carry, kept so that a span reads the same whoever made it.
SCOPE = "opentelemetry.instrumentation.django"
_LEGACY_SCHEMA_URL = "https://opentelemetry.io/schemas/1.11.0"

_tracer: Tracer = trace.NoOpTracer()
_STATE = "otel_trainerhub_server"  # request attribute: [span, route known, exception from the view]


def lean_supported(server_metrics: bool) -> bool:
    """Whether this process's configuration is one the lean middleware serves exactly like contrib's."""
    if server_metrics or any(os.environ.get(name) for name in CONTRIB_ONLY_VARIABLES):
        return False
    opt_in = {part.strip() for part in os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    return not opt_in & {"http", "http/dup"}


def set_tracer(tracer_provider: trace.TracerProvider) -> None:
    global _tracer
    from importlib.metadata import version

    _tracer = tracer_provider.get_tracer(SCOPE, version("opentelemetry-instrumentation-django"), schema_url=_LEGACY_SCHEMA_URL)


_asgi: Any = None  # opentelemetry.instrumentation.asgi, imported at the first ASGI request


def _is_asgi(request: Any) -> bool:
    return hasattr(request, "scope")  # django.core.handlers.asgi.ASGIRequest


def _start(request: Any) -> tuple[Span, Token[Context]]:
    global _asgi
    if _is_asgi(request):
        if _asgi is None:
            import opentelemetry.instrumentation.asgi as _asgi
        carrier, getter, attributes = request.scope, _asgi.asgi_getter, _asgi.collect_request_attributes(request.scope)
    else:
        carrier, getter, attributes = request.META, wsgi_getter, collect_request_attributes(request.META)
    method = sanitize_method(request.method.strip())
    name = "HTTP" if method == "_OTHER" else request.method
    # As contrib: a request served inside a span already current (a test client in a task,
    # say) is an INTERNAL child of it, not a server span of a trace of its own.
    if trace.get_current_span() is trace.INVALID_SPAN:
        context, kind = propagate.extract(carrier, getter=getter), SpanKind.SERVER
    else:
        context, kind = get_current(), SpanKind.INTERNAL
    span = _tracer.start_span(name, context=context, kind=kind, attributes=attributes)
    token = attach(set_span_in_context(span, context))
    setattr(request, _STATE, [span, False, None])
    return span, token


def name_by_route(span: Span, request: Any, match: Any) -> str:
    """Name ``span`` after the route of Django's ``match`` (a ResolverMatch), set ``http.route``,
    and return the route (both paths: contrib's spans are renamed the same way)."""
    route = routes.template(getattr(match, "route", None) or "")
    if span.is_recording():
        span.set_attribute("http.route", route)
        if getattr(span, "name", None) != "HTTP":  # contrib's name for a method outside the known set
            span.update_name(f"{request.method} {route}")
    return route


def _route_unseen(span: Span, request: Any) -> None:
    """The view never ran (a middleware answered, or no pattern matched): resolve the path
    here, once, rather than for every request as contrib does."""
    if not span.is_recording() or getattr(span, "name", None) == "HTTP":
        return
    from django.urls import Resolver404, get_resolver

    try:
        match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        span.update_name(f"{request.method} {routes.UNMATCHED}")
        return
    name_by_route(span, request, match)


def describe_response(span: Span, request: Any, response: Any) -> None:
    """What contrib's response hook adds (both paths): user, trainer, streaming deferral."""
    if not span.is_recording():
        return
    user = loaded_user(request)
    if user is not None:
        span.set_attribute("user.id", str(user.pk))
    trainer = trainer_id_of(request, user)
    if trainer is not None:
        span.set_attribute(TRAINER_ID, str(trainer))
    defer_end_until_streamed(span, response)


def _raised(span: Span, error: BaseException) -> None:
    if not isinstance(error, CancelledError):
        record_failure(span, error)
    elif span.is_recording():
        # An ASGI client left while the view ran: Django cancelled it (also through the
        # thread of a sync middleware stack), and no response comes.
        span.add_event("client disconnected", {REQUEST_ABANDONED: True})


def _finish(request: Any, response: Any, span: Span, token: Token[Context]) -> None:
    try:
        state = getattr(request, _STATE, None) or [span, True, None]
        if not state[1]:
            _route_unseen(span, request)
        if span.is_recording():
            status = response.status_code
            span.set_attribute("http.status_code", status)
            if http_status_to_status_code(status, server_span=True) is StatusCode.ERROR:
                span.set_status(Status(StatusCode.ERROR))
        propagator = get_global_response_propagator()  # type: ignore[no-untyped-call]
        if propagator is not None:
            propagator.inject(response)
        if state[2] is not None:
            record_failure(span, state[2])
        describe_response(span, request, response)
    except Exception:  # the request's own response goes out whatever happens here (STYLE §3)
        swallowed("django server span")
    _end(span, token)


def _end(span: Span, token: Token[Context]) -> None:
    try:
        span.end()
    finally:
        detach(token)


class ServerSpanMiddleware(HybridMiddleware):
    """First in ``MIDDLEWARE``: the request's server span, current for everything after it;
    untraced paths (probes, scrapes) run with instrumentation suppressed instead."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        super().__init__(get_response)
        if self._is_async:  # Django would run a sync process_view in a thread of its own
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if is_untraced(request.path):
            return run_untraced(self.get_response, request)
        try:
            span, token = _start(request)
        except Exception:
            swallowed("django server span")
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except BaseException as error:  # Django turns a view's errors into responses: rare
            _raised(span, error)
            _end(span, token)
            raise
        _finish(request, response, span, token)
        return response

    async def _acall(self, request: Any) -> Any:
        get_response: Callable[[Any], Awaitable[Any]] = self.get_response
        if is_untraced(request.path):
            return await arun_untraced(get_response, request)
        try:
            span, token = _start(request)
        except Exception:
            swallowed("django server span")
            return await get_response(request)
        try:
            response = await get_response(request)
        except BaseException as error:
            _raised(span, error)
            _end(span, token)
            raise
        _finish(request, response, span, token)
        return response

    def process_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        _route_known(request)

    async def _aprocess_view(self, request: Any, view: Any, args: Any, kwargs: Any) -> None:
        _route_known(request)

    def process_exception(self, request: Any, exception: Exception) -> None:
        state = getattr(request, _STATE, None)
        if state is not None:
            state[2] = exception  # recorded on the span with the response


def _route_known(request: Any) -> None:
    """Django has resolved the URL (``process_view``): the span is named after its route."""
    state = getattr(request, _STATE, None)
    if state is None:
        return
    state[1] = True
    try:
        name_by_route(state[0], request, request.resolver_match)
    except Exception:
        swallowed("django route")
