"""Django: server spans named by route template (``http.route``), the user and trainer on them,
one root span per management command, our middleware, and the security signals.

Instrumenting Django needs its settings, which ``import otel_trainerhub.auto`` (the first
line of ``manage.py``) runs before ``DJANGO_SETTINGS_MODULE`` is even set. So unless the
app registry is already loading, the contrib instrumentor is installed at the start of
``django.setup()``: the moment Django reads its middleware for the first time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import Span

from otel_trainerhub import _sdk, patches
from otel_trainerhub.attributes import COMMAND_NAME
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation.base import InstrumentationContext, supported
from otel_trainerhub.instrumentation.django import connections as db_connections
from otel_trainerhub.instrumentation.django import hops, middleware, routes, server, sqlcomments
from otel_trainerhub.instrumentation.django.identity import configure_proxy, current_identity
from otel_trainerhub.instrumentation.django.security import connect_security_signals
from otel_trainerhub.instrumentation.django.streaming import end_abandoned_requests
from otel_trainerhub.settings import Settings

__all__ = ["instrument", "server_metrics_provider", "uninstrument"]

UNTRACED_MIDDLEWARE = middleware.dotted(middleware.UntracedPathsMiddleware)
SERVER_MIDDLEWARE = middleware.dotted(server.ServerSpanMiddleware)
REQUEST_LOGGING_MIDDLEWARE = middleware.dotted(middleware.RequestLoggingMiddleware)
OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"

_context: InstrumentationContext | None = None


_instrumented = False
_lean = False  # our ServerSpanMiddleware makes the server span, not contrib's


_CONTRIB_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware"


#: contrib's request.META keys for the request's span and duration-metric attributes (set at install).
_span_key = _duration_key = ""


def _named_by_route(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """After contrib's ``process_view``: the span's route is ``routes.template()``'s, for the span
    name, ``http.route`` and the duration metric alike."""
    result = wrapped(*args, **kwargs)
    try:
        request = args[0]
        match = getattr(request, "resolver_match", None)
        span = request.META.get(_span_key)
        if match is not None and span is not None:
            route = server.name_by_route(span, request, match)
            duration = request.META.get(_duration_key)
            if duration is not None:
                for key in ("http.route", "http.target"):
                    if key in duration:
                        duration[key] = route
                if "http.request.method" in duration:
                    duration["http.route"] = route
    except Exception:
        swallowed("django route")
    return result


def _response_hook(span: Span, request: Any, response: Any) -> None:
    if not span.is_recording():
        return
    try:
        if getattr(request, "resolver_match", None) is None and getattr(span, "name", None) == request.method:
            # A URL no pattern matches: one span name for all of them, not one per path.
            span.update_name(f"{request.method} {routes.UNMATCHED}")
        server.describe_response(span, request, response)
    except Exception:  # a hook must never fail the request (STYLE §3)
        swallowed("django response hook")


def _excluded_urls_pattern(paths: Sequence[str]) -> str:
    # contrib matches these regexes against the full URL; anchor them on the path.
    return ",".join(rf"^https?://[^/]+{re.escape(p)}" for p in paths)


# Commands that serve or wait rather than run to completion get no span of their own.
_LONG_RUNNING_COMMANDS = frozenset({"runserver", "testserver", "shell", "dbshell", "test", "celery"})


def _traced_command(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    name = type(instance).__module__.rpartition(".")[2]
    if _context is None or name in _LONG_RUNNING_COMMANDS:
        return wrapped(*args, **kwargs)
    tracer = _context.tracer_provider.get_tracer("otel_trainerhub.django.command")
    with tracer.start_as_current_span(f"manage.py {name}", attributes={COMMAND_NAME: name}):
        return wrapped(*args, **kwargs)


def server_metrics_provider(settings: Settings, meter_provider: MeterProvider) -> MeterProvider:
    """The meter provider for the Django instrumentation's http.server.* metrics.

    They duplicate the collector's spanmetrics (RED by route, what the dashboards and alerts
    use) and cost three metric operations per request (about 30 us here), so by default
    they are kept only where spanmetrics cannot count every request.
    """
    mode = settings.http_server_metrics
    if mode == "on" or (mode == "auto" and not settings.spanmetrics_count_every_request):
        return meter_provider
    return NoOpMeterProvider()


def _install() -> None:
    global _instrumented, _lean
    if _instrumented or _context is None:
        return
    from django.conf import settings
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    if not supported("django", DjangoInstrumentor()):
        return
    metrics = server_metrics_provider(_context.settings, _context.meter_provider)
    _lean = server.lean_supported(server_metrics=not isinstance(metrics, NoOpMeterProvider))
    stack = list(settings.MIDDLEWARE)
    if _lean:
        server.set_tracer(_context.tracer_provider)
        stack.insert(0, SERVER_MIDDLEWARE)
    else:
        _install_contrib(metrics)
        stack = list(settings.MIDDLEWARE)
        stack.insert(0, UNTRACED_MIDDLEWARE)
    if REQUEST_LOGGING_MIDDLEWARE not in stack:
        # Inside the server span, so that every line of the request carries its trace id.
        first = SERVER_MIDDLEWARE if _lean else OTEL_MIDDLEWARE
        stack.insert(stack.index(first) + 1 if first in stack else 1, REQUEST_LOGGING_MIDDLEWARE)
    settings.MIDDLEWARE = stack
    patches.wrap("django.core.management.base", "BaseCommand.execute", _traced_command)
    if _context.settings.performance_monitoring_enabled:
        hops.remember_awaiting_frames()
    _instrumented = True


def _install_contrib(metrics: MeterProvider) -> None:
    """contrib's middleware, for what only it serves (see server.lean_supported)."""
    global _span_key, _duration_key
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    assert _context is not None
    DjangoInstrumentor().instrument(
        tracer_provider=_context.tracer_provider,
        meter_provider=metrics,
        excluded_urls=_excluded_urls_pattern(middleware.untraced_paths()),
        response_hook=_response_hook,
        skip_dep_check=True,  # _install checked the versions with supported()
    )
    _span_key, _duration_key, activation_key = _sdk.django_request_keys()
    end_abandoned_requests(_span_key, activation_key)
    patches.wrap(_CONTRIB_MIDDLEWARE, "_DjangoMiddleware.process_view", _named_by_route)


def _install_then_setup(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    _install()
    result = wrapped(*args, **kwargs)
    _after_setup()
    return result


def _after_setup() -> None:
    from otel_trainerhub.logs import chain, setup as log_setup

    chain.set_identity_source(current_identity)
    # Django has just applied its LOGGING settings: put our handlers back on top.
    log_setup.reapply()
    if _context is not None:
        configure_proxy(_context.settings.log_trusted_proxy_header, _context.settings.log_trusted_proxy_count)
        sqlcomments.install(_context.settings.sql_comments)
        if _context.settings.performance_monitoring_enabled:
            db_connections.install(_context.meter_provider)
    connect_security_signals()


def instrument(context: InstrumentationContext) -> bool:
    global _context
    import django  # ImportError: not installed
    from django.apps import apps

    _context = context
    middleware.set_untraced_paths(tuple(context.settings.untraced_paths))
    if apps.ready or apps.loading:
        _install()
        if apps.ready:
            _after_setup()
    else:
        patches.wrap("django", "setup", _install_then_setup)
    return True


def uninstrument() -> None:
    global _instrumented, _context
    patches.undo("wrap django.setup")
    patches.undo("wrap django.core.management.base.BaseCommand.execute")
    patches.undo(f"wrap {_CONTRIB_MIDDLEWARE}._DjangoMiddleware.process_view")
    sqlcomments.uninstall()
    db_connections.uninstall()
    if _instrumented:
        from django.conf import settings

        if not _lean:
            from opentelemetry.instrumentation.django import DjangoInstrumentor

            DjangoInstrumentor().uninstrument()
        ours = (SERVER_MIDDLEWARE, UNTRACED_MIDDLEWARE, REQUEST_LOGGING_MIDDLEWARE)
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m not in ours]
        _instrumented = False
    from otel_trainerhub.logs import chain

    chain.set_identity_source(None)
    _context = None
