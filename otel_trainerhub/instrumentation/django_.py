"""Django server spans: route template as the name and ``http.route``, the user and trainer on them.

Instrumenting Django needs its settings, which ``import otel_trainerhub.auto`` (the first
line of ``manage.py``) runs before ``DJANGO_SETTINGS_MODULE`` is even set. So unless the
app registry is already loading, the contrib instrumentor is installed at the start of
``django.setup()``: the moment Django reads its middleware for the first time.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import Span

from otel_trainerhub import patches
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation import InstrumentationContext
from otel_trainerhub.settings import Settings

UNTRACED_MIDDLEWARE = "otel_trainerhub.instrumentation.django_.UntracedPathsMiddleware"
REQUEST_LOGGING_MIDDLEWARE = "otel_trainerhub.logs.requests.RequestLoggingMiddleware"
OTEL_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
# A Django setting naming the one-to-one relation from the user to their trainer profile.
TRAINER_RELATION_SETTING = "TRAINERHUB_TRAINER_RELATION"

_untraced_paths: tuple[str, ...] = ()
_context: InstrumentationContext | None = None
_instrumented = False

try:
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY
except ImportError:  # pragma: no cover - older API
    _SUPPRESS_HTTP_INSTRUMENTATION_KEY = "suppress_http_instrumentation"


def is_untraced(path: str) -> bool:
    for prefix in _untraced_paths:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return True
    return False


def _suppressed() -> Any:
    """The current context with all instrumentation (HTTP included) suppressed."""
    return set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


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


class UntracedPathsMiddleware(HybridMiddleware):
    """Runs probe and scrape requests with instrumentation suppressed, their SQL and Redis included."""

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if not is_untraced(request.path):
            return self.get_response(request)
        token = attach(_suppressed())
        try:
            return self.get_response(request)
        finally:
            detach(token)

    async def _acall(self, request: Any) -> Any:
        get_response: Callable[[Any], Awaitable[Any]] = self.get_response
        if not is_untraced(request.path):
            return await get_response(request)
        token = attach(_suppressed())
        try:
            return await get_response(request)
        finally:
            detach(token)


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
    try:
        field = user._meta.get_field(relation)
    except Exception:
        return None
    # Only a relation the view already loaded: a span attribute is never worth a query.
    if not field.is_cached(user):
        return None
    trainer = field.get_cached_value(user)
    return getattr(trainer, "pk", None)


def _response_hook(span: Span, request: Any, response: Any) -> None:
    if not span.is_recording():
        return
    try:
        user = loaded_user(request)
        if user is not None:
            span.set_attribute("user.id", str(user.pk))
        trainer = trainer_id_of(request, user)
        if trainer is not None:
            span.set_attribute("trainerhub.trainer.id", str(trainer))
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
    with tracer.start_as_current_span(f"manage.py {name}", attributes={"trainerhub.command.name": name}):
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
    global _instrumented
    if _instrumented or _context is None:
        return
    from django.conf import settings
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(
        tracer_provider=_context.tracer_provider,
        meter_provider=server_metrics_provider(_context.settings, _context.meter_provider),
        excluded_urls=_excluded_urls_pattern(_untraced_paths),
        response_hook=_response_hook,
        skip_dep_check=True,
    )
    middleware = list(settings.MIDDLEWARE)
    if UNTRACED_MIDDLEWARE not in middleware:
        middleware.insert(0, UNTRACED_MIDDLEWARE)
    if REQUEST_LOGGING_MIDDLEWARE not in middleware:
        # Inside the server span, so that every line of the request carries its trace id.
        position = middleware.index(OTEL_MIDDLEWARE) + 1 if OTEL_MIDDLEWARE in middleware else 1
        middleware.insert(position, REQUEST_LOGGING_MIDDLEWARE)
    settings.MIDDLEWARE = middleware
    patches.wrap("django.core.management.base", "BaseCommand.execute", _traced_command)
    _instrumented = True


def _install_then_setup(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    _install()
    result = wrapped(*args, **kwargs)
    _after_setup()
    return result


def _after_setup() -> None:
    from otel_trainerhub.logs import setup as log_setup
    from otel_trainerhub.logs.requests import configure_proxy, connect_security_signals

    # Django has just applied its LOGGING settings: put our handlers back on top.
    log_setup.reapply()
    if _context is not None:
        configure_proxy(_context.settings.log_trusted_proxy_header, _context.settings.log_trusted_proxy_count)
    connect_security_signals()


def instrument(context: InstrumentationContext) -> bool:
    global _context, _untraced_paths
    import django  # ImportError: not installed
    from django.apps import apps

    _context = context
    _untraced_paths = tuple(context.settings.untraced_paths)
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
    if _instrumented:
        from django.conf import settings
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().uninstrument()
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m not in (UNTRACED_MIDDLEWARE, REQUEST_LOGGING_MIDDLEWARE)]
        _instrumented = False
    _context = None
    _context = None
