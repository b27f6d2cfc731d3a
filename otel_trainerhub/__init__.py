"""OpenTelemetry for TrainerHub: Django, Celery, Redis and PostgreSQL traced from one import.

``import otel_trainerhub.auto`` as the first import of ``manage.py``, ``wsgi.py`` /
``asgi.py`` and the Celery app module, or call :func:`configure` yourself.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from otel_trainerhub.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "configure", "shutdown", "is_configured", "current_settings", "telemetry_stats", "log_security_event"]

_log = logging.getLogger("otel_trainerhub")


@dataclasses.dataclass
class _State:
    settings: Settings
    providers: Any  # providers.Providers, or None when OTEL_SDK_DISABLED
    instrumented: list[str]


_lock = threading.RLock()
_state: _State | None = None


def configure(**options: Any) -> Settings:
    """Set up tracing, metrics and instrumentation for this process.

    Keyword options (the field names of :class:`Settings`, e.g. ``service_name=``,
    ``slow_request_threshold=``) beat environment variables, which beat defaults.
    Raises :class:`ConfigError` naming the variable when a value cannot be used.
    Calling it again is a no-op that returns the settings already in force.
    """
    global _state
    with _lock:
        if _state is not None:
            if options:
                _log.debug("otel_trainerhub already configured; options of a later configure() are ignored")
            return _state.settings
        settings = load_settings(**options)
        from otel_trainerhub.logs.setup import configure_logging

        from otel_trainerhub.sentry import init_sentry

        if settings.sdk_disabled:
            configure_logging(settings)
            init_sentry(settings)
            _state = _State(settings, None, [])
            return settings
        from otel_trainerhub.instrumentation import InstrumentationContext, instrument_all
        from otel_trainerhub.providers import build_providers, install_global, stamp_in_children

        providers = build_providers(settings)
        install_global(providers)
        otlp_handler = None
        if settings.exporter_endpoint and settings.traces_exporter == "otlp":
            from otel_trainerhub.logs.otlp import OtlpLogHandler, build_log_provider

            providers.log_provider = build_log_provider(settings, providers.tracer_provider.resource)
            stamp_in_children(providers.log_provider)
            otlp_handler = OtlpLogHandler(providers.log_provider, level=logging.getLevelName(settings.otlp_log_level))
        configure_logging(settings, otlp_handler)
        # After the tracer provider: Sentry links its events to the OTel span in force.
        init_sentry(settings)
        context = InstrumentationContext(
            settings=settings,
            tracer_provider=providers.tracer_provider,
            meter_provider=providers.meter_provider,
            flush=providers.flush,
        )
        _state = _State(settings, providers, instrument_all(context))
        _log.debug("otel_trainerhub configured: %r; instrumented %s", settings, ", ".join(_state.instrumented))
        return settings


def shutdown(timeout: float = 5.0) -> None:
    """Flush what is queued (waiting at most ``timeout`` seconds), stop exporting, uninstrument.

    Safe to call more than once, and before :func:`configure`.
    """
    global _state
    with _lock:
        state, _state = _state, None
    if state is None or state.providers is None:
        return
    from otel_trainerhub.instrumentation import uninstrument_all

    state.providers.shutdown(timeout)
    uninstrument_all(state.instrumented)


def is_configured() -> bool:
    return _state is not None


def current_settings() -> Settings:
    """The settings in force: those of :func:`configure`, else read from the environment."""
    state = _state
    return state.settings if state is not None else load_settings()


def telemetry_stats() -> dict[str, Any]:
    """This process's counts of spans exported and dropped (by reason)."""
    from otel_trainerhub.providers import STATS

    return STATS.snapshot()


def log_security_event(event: str, request: Any = None, **fields: Any) -> None:
    """Log a security event (a failed login, a denied permission, an admin action) with the
    user and source address of ``request``, on the ``otel_trainerhub.security`` logger."""
    from otel_trainerhub.logs.requests import log_security_event as log

    log(event, request, **fields)
