"""Sentry error tracking, linked to the OpenTelemetry traces.

With ``SENTRY_DSN`` set, sentry-sdk starts with the Django, Celery and Redis integrations
and its own OTLP integration in linking mode: every event carries the trace and span id
of the OTel span current where it happened (one trace id, OTel's), and the OTel span gets
the event's id as ``sentry.event_id``. Spans reach Sentry through the collector, not from
here, so Sentry's own tracing stays off while OTel tracing is on; with
``OTEL_SDK_DISABLED=true`` Sentry traces with ``SENTRY_TRACES_SAMPLE_RATE`` as usual.

``send_default_pii`` stays off and the shared redaction policy runs on every event and
breadcrumb. Without ``SENTRY_DSN`` nothing here runs.

Fork safety: sentry-sdk's transport restarts its worker thread in a forked child on its
own; prefork Celery children leave through ``os._exit``, so the flush is an exit hook
(``export/fork.py``), run on ``worker_process_shutdown`` after the pipelines' shutdown.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import trace

from otel_trainerhub.redaction import redact_mapping, redact_text, redact_value
from otel_trainerhub.settings import ConfigError, Settings

__all__ = ["init_sentry", "flush_sentry"]

_log = logging.getLogger("otel_trainerhub.sentry")
_initialised = False


# What Django's ASGI handler raises when an ASGI server (uvicorn's default --lifespan auto)
# probes for lifespan support: the server's expected answer that Django has none, not an
# error of the application; sentry-sdk's ASGI middleware would report one per worker boot.
_LIFESPAN_PROBE = "Django can only handle ASGI/HTTP connections, not lifespan"


def _is_lifespan_probe(hint: dict[str, Any]) -> bool:
    exc_info = hint.get("exc_info") if isinstance(hint, dict) else None
    error = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) == 3 else None
    return type(error) is ValueError and str(error).startswith(_LIFESPAN_PROBE)


_trace_view_url: str | None = None  # TRACE_VIEW_URL: each event gets a trace_url tag


def _redact_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    try:
        if _is_lifespan_probe(hint):
            return None
        event_id = event.get("event_id")
        span = trace.get_current_span()
        if event_id and span.is_recording():
            span.set_attribute("sentry.event_id", event_id)
        context = span.get_span_context()
        if _trace_view_url and context.is_valid:  # the trace behind the error, one click away
            event.setdefault("tags", {})["trace_url"] = _trace_view_url.replace("{trace_id}", format(context.trace_id, "032x"))
        return _redact(event)
    except Exception:
        _log.debug("otel_trainerhub: Sentry event redaction failed; event dropped", exc_info=True)
        return None  # an event we could not clean is not sent


def _redact(event: dict[str, Any]) -> dict[str, Any]:
    request = event.get("request")
    if isinstance(request, dict):
        for key in ("data", "headers", "cookies", "env"):
            if isinstance(request.get(key), dict):
                request[key] = redact_mapping(request[key], escape_control=False)
            elif isinstance(request.get(key), str):
                request[key] = redact_text(request[key], escape_control=False)
        if isinstance(request.get("query_string"), str):
            request["query_string"] = redact_text(request["query_string"], escape_control=False)
        if isinstance(request.get("url"), str):
            request["url"] = redact_text(request["url"], escape_control=False)
    for exception in (event.get("exception") or {}).get("values") or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = redact_text(exception["value"], escape_control=False)
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            if isinstance(frame.get("vars"), dict):
                frame["vars"] = redact_mapping(frame["vars"], escape_control=False)
    if isinstance(event.get("logentry"), dict):
        entry = event["logentry"]
        for key in ("message", "formatted"):
            if isinstance(entry.get(key), str):
                entry[key] = redact_text(entry[key], escape_control=False)
        if isinstance(entry.get("params"), (list, tuple)):
            # log.error("charge failed for %s", payload): the arguments themselves, dicts included.
            entry["params"] = redact_value("params", list(entry["params"]), escape_control=False)
    if isinstance(event.get("message"), str):
        event["message"] = redact_text(event["message"], escape_control=False)
    for key in ("extra", "contexts", "tags"):
        if isinstance(event.get(key), dict):
            event[key] = redact_mapping(event[key], escape_control=False)
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(values, list):
        for crumb in values:
            _redact_breadcrumb(crumb, {})
    return event


def _redact_breadcrumb(crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    if isinstance(crumb.get("message"), str):
        crumb["message"] = redact_text(crumb["message"], escape_control=False)
    if isinstance(crumb.get("data"), dict):
        crumb["data"] = redact_mapping(crumb["data"], escape_control=False)
    return crumb


def init_sentry(settings: Settings) -> bool:
    """Start sentry-sdk from the guide's variables; False (and nothing done) without a DSN."""
    global _initialised, _trace_view_url
    if not settings.sentry_dsn or _initialised:
        return _initialised
    _trace_view_url = settings.trace_view_url
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError("SENTRY_DSN", "<hidden>", "sentry-sdk installed as well: pip install 'otel-trainerhub[sentry]'") from None
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.otlp import OTLPIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    # Typed loosely on purpose: sentry-sdk's Event TypedDict is what these dict hooks receive.
    before_send: Any = _redact_event
    before_breadcrumb: Any = _redact_breadcrumb
    otel_tracing = not settings.sdk_disabled
    if otel_tracing and settings.sentry_traces_sample_rate:
        _log.info(
            "SENTRY_TRACES_SAMPLE_RATE is not used while OpenTelemetry traces: spans reach Sentry "
            "through the collector, under OTel's trace ids"
        )
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=settings.release_version or None,
        send_default_pii=False,
        traces_sample_rate=None if otel_tracing else settings.sentry_traces_sample_rate,
        profiles_sample_rate=None if otel_tracing else settings.sentry_profiles_sample_rate,
        integrations=[
            DjangoIntegration(),
            CeleryIntegration(monitor_beat_tasks=False),
            RedisIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=logging.ERROR),
            *([OTLPIntegration(setup_otlp_traces_exporter=False, setup_propagator=False, capture_exceptions=False)] if otel_tracing else []),
        ],
        before_send=before_send,
        before_breadcrumb=before_breadcrumb,
        max_request_body_size="small",
        include_local_variables=True,
    )
    _initialised = True
    from sentry_sdk.integrations.logging import ignore_logger

    # A failed request is already an event (its exception); its request line is not another.
    ignore_logger("otel_trainerhub.request")
    ignore_logger("otel_trainerhub.export")  # telemetry trouble is counted, not paged on
    from otel_trainerhub.export import fork

    # Prefork children leave through os._exit: no atexit flush would run there.
    fork.register_exit_hook(flush_sentry)
    return True


def flush_sentry(timeout: float = 2.0) -> None:
    if _initialised:
        import sentry_sdk

        sentry_sdk.flush(timeout=timeout)
