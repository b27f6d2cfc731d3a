"""OpenTelemetry for TrainerHub: Django, Celery, Redis and PostgreSQL traced from one import.

``import otel_trainerhub.auto`` as the first import of ``manage.py``, ``wsgi.py`` /
``asgi.py`` and the Celery app module, or call :func:`configure` yourself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from otel_trainerhub.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "configure", "force_flush", "shutdown", "is_configured", "current_settings", "telemetry_stats", "log_security_event"]

_log = logging.getLogger("otel_trainerhub")


@dataclasses.dataclass
class _State:
    settings: Settings
    pipelines: Any  # export.Pipelines, or None when OTEL_SDK_DISABLED
    instrumented: list[str]


_lock = threading.RLock()
_state: _State | None = None
_shut_down = False  # a shutdown() of configured pipelines happened in this process


def configure(
    *,
    span_processors: Sequence[Any] = (),
    metric_readers: Sequence[Any] = (),
    id_generator: Any = None,
    clock: Callable[[], int] | None = None,
    **options: Any,
) -> Settings:
    """Set up tracing, metrics, logging and instrumentation for this process.

    Keyword options (the field names of :class:`Settings`, e.g. ``service_name=``,
    ``slow_request_threshold=``) beat environment variables, which beat defaults; both are
    validated alike, and a value that cannot be used raises :class:`ConfigError` naming it.
    ``span_processors`` (run after ours, before the exporters: an in-memory exporter in a
    test), ``metric_readers`` and ``id_generator`` go to the SDK providers as given;
    ``clock`` (nanoseconds since the epoch, for tests) times every span and span event
    until :func:`shutdown`.
    Calling it again is a no-op that returns the settings already in force. After
    :func:`shutdown` it raises ``RuntimeError``: OpenTelemetry's global tracer and meter
    providers can be set once per process, so a second set-up could not reach the spans
    and metrics of code holding the first one's tracers and meters.
    """
    global _state
    with _lock, _collection_paused():
        if _state is not None:
            if options:
                _log.debug("otel_trainerhub already configured; options of a later configure() are ignored")
            return _state.settings
        if _shut_down:
            raise RuntimeError(
                "otel_trainerhub.configure() after shutdown() in the same process is not supported: OpenTelemetry's "
                "global providers can be set once per process (shut down at exit, or configure each set-up in a process of its own)"
            )
        settings = load_settings(**options)
        from otel_trainerhub import contain, redaction

        contain.mode = settings.internal_errors
        redaction.set_value_length_limit(settings.value_length_limit)
        from otel_trainerhub.export import fork
        from otel_trainerhub.logs.setup import configure_logging
        from otel_trainerhub.sentry import init_sentry

        fork.connect_celery_child_exit(settings.shutdown_timeout)
        fork.connect_uvicorn_shutdown(settings.shutdown_timeout)
        if settings.sdk_disabled:
            configure_logging(settings)
            init_sentry(settings)
            _state = _State(settings, None, [])
            return settings
        if clock is not None:
            from otel_trainerhub import _sdk, patches

            patches.replace(*_sdk.set_span_clock(clock), clock)
        pipelines = _build_pipelines(settings, tuple(span_processors), tuple(metric_readers), id_generator)
        otlp_handler = None
        if pipelines.logger_provider is not None:
            from otel_trainerhub.logs.otlp import OtlpLogHandler

            otlp_handler = OtlpLogHandler(pipelines.logger_provider, level=logging.getLevelName(settings.otlp_log_level))
        configure_logging(settings, otlp_handler)
        # After the tracer provider: Sentry links its events to the OTel span in force.
        init_sentry(settings)
        from otel_trainerhub.instrumentation import InstrumentationContext, instrument_all

        # First of the exit hooks: the spans and drop counts go before Sentry's flush.
        fork.register_exit_hook(pipelines.exit_hook, first=True)
        context = InstrumentationContext(
            settings=settings, tracer_provider=pipelines.tracer_provider, meter_provider=pipelines.meter_provider
        )
        _state = _State(settings, pipelines, instrument_all(context))
        _log.debug("otel_trainerhub configured: %r; instrumented %s", settings, ", ".join(_state.instrumented))
        return settings


@contextlib.contextmanager
def _collection_paused() -> Any:
    """The cyclic garbage collector off while set-up imports and builds what lives as long as
    the process (modules, classes, providers), and back as the host had it: the full
    collections that set-up would trigger find nothing to free, and cost every management
    command about an eighth of what the package adds to start-up (benchmarks/startup.py)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _build_pipelines(settings: Settings, span_processors: tuple[Any, ...], metric_readers: tuple[Any, ...], id_generator: Any) -> Any:
    """Build the three signal pipelines in data-path order and install them globally."""
    from opentelemetry import metrics, trace

    from otel_trainerhub.export import Pipelines, build_resource, fork
    from otel_trainerhub.export.accounting import STATS
    from otel_trainerhub.export.ledger import Ledger
    from otel_trainerhub.export.logs import build_logger_provider
    from otel_trainerhub.export.metrics import build_meter_provider
    from otel_trainerhub.export.traces import build_tracer_provider
    from otel_trainerhub.processors.pipeline import build_enrichment

    from otel_trainerhub.export.otlp import exporter_class
    from otel_trainerhub.settings import SIGNALS

    resource = build_resource(settings)
    fork.warm_up(exporter_class(t) for t in map(settings.otlp_target, SIGNALS) if t is not None)
    STATS.ledger = Ledger()
    meter_provider, readers = build_meter_provider(settings, resource, metric_readers)
    sampler, enrichment = build_enrichment(settings, meter_provider, span_processors)
    tracer_provider, processors = build_tracer_provider(
        settings, resource, sampler, enrichment, **({"id_generator": id_generator} if id_generator is not None else {})
    )
    logs = build_logger_provider(settings, resource)
    pipelines = Pipelines(tracer_provider, meter_provider, processors, readers, shutdown_timeout=settings.shutdown_timeout)
    if logs is not None:
        pipelines.logger_provider, pipelines.log_processors = logs
    fork.register_at_fork()
    fork.stamp_in_children(
        [p for p in (tracer_provider, meter_provider, pipelines.logger_provider) if p is not None],
        settings.resource_attributes.get("service.instance.id"),
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    if not _atexit_registered:
        _register_atexit()
    return pipelines


_atexit_registered = False


def _register_atexit() -> None:
    global _atexit_registered
    import atexit

    _atexit_registered = True
    atexit.register(shutdown)


def force_flush(timeout: float | None = None) -> bool:
    """Export every span, log record and metric this process holds now, waiting at most
    ``timeout`` seconds (default ``OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT``): for the end of a batch
    job, a cron run, a test. False when not all of it was delivered in time; with the collector
    known down or hung it returns False at once. True (nothing to do) before :func:`configure`."""
    state = _state
    if state is None or state.pipelines is None:
        return True
    return bool(state.pipelines.force_flush(timeout))


def shutdown(timeout: float | None = None) -> None:
    """Flush what is queued (waiting at most ``timeout`` seconds, default
    ``OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT``), stop exporting, and undo every patch.

    Safe to call more than once, and before :func:`configure`.
    """
    global _state, _shut_down
    with _lock:
        state, _state = _state, None
        if state is not None and state.pipelines is not None:
            _shut_down = True
    if state is None or state.pipelines is None:
        return
    from otel_trainerhub import patches
    from otel_trainerhub.export import fork
    from otel_trainerhub.instrumentation import uninstrument_all
    from otel_trainerhub.logs.setup import set_otlp_handler

    fork.unregister_exit_hook(state.pipelines.exit_hook)
    state.pipelines.shutdown(timeout)
    set_otlp_handler(None)
    uninstrument_all(state.instrumented)
    patches.undo_all()  # what the adapters left: signal receivers, the Celery exit hook


def is_configured() -> bool:
    return _state is not None


def current_settings() -> Settings:
    """The settings in force: those of :func:`configure`, else read from the environment."""
    state = _state
    return state.settings if state is not None else load_settings()


def telemetry_stats() -> dict[str, Any]:
    """This process's counts of spans exported, of spans and log records dropped (by reason),
    of internal errors swallowed (by where they happened) and of OpenTelemetry's own warning
    lines held back by the rate limit (logs/limits.py)."""
    from otel_trainerhub import contain
    from otel_trainerhub.export.accounting import STATS

    from otel_trainerhub.logs import limits

    return {**STATS.snapshot(), "internal_errors": contain.counts(), "library_log_lines_suppressed": limits.suppressed_total()}


def log_security_event(event: str, request: Any = None, **fields: Any) -> None:
    """Log a security event (a failed login, a denied permission, an admin action) with the
    user and source address of ``request``, on the ``otel_trainerhub.security`` logger."""
    from otel_trainerhub.instrumentation.django.security import log_security_event as log

    log(event, request, **fields)
