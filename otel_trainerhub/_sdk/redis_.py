"""Contrib's Redis command path, leaner: the wrapper on ``redis.Redis.execute_command`` replaced
by one that makes the same span (name, kind, attributes, status, exception event) for a
fraction of the instructions, and skips the connection pools Celery and kombu use.

Contrib starts the span bare and sets seven attributes one validated, locked call each,
rebuilding the connection's attributes from the pool's ``connection_kwargs`` on every
command. Here they go in one dict at start, the connection's part computed once per pool.
What the lean path does not cover takes contrib's own wrapper: RediSearch's ``FT.SEARCH``
and ``FT.CREATE`` (their extra attributes), a command without a name, and a request hook.
Pipelines, cluster and asyncio clients stay contrib's.

``tests/integration/test_redis_spans.py`` runs both paths on the same commands against a
real Redis and compares the spans.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.instrumentation import redis as redis_instrumentation
from opentelemetry.instrumentation._semconv import (
    _get_semconv_opt_in_modes,
    _OpenTelemetryStabilitySignalType,
    _set_db_statement,
)
from opentelemetry.instrumentation.redis import util as redis_util
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, suppress_instrumentation
from opentelemetry.trace import SpanKind, TracerProvider, set_span_in_context

from otel_trainerhub.failure import record_failure

__all__ = ["install", "installed", "uninstall"]

_log = logging.getLogger("otel_trainerhub.instrumentation")

_CONNECTION = "_otel_trainerhub_connection_attributes"  # set on each pool at its first command
_CONTRIB_OWN = frozenset({"FT.SEARCH", "FT.CREATE"})
_ARGS_LENGTH = "db.redis.args_length"
_contrib_wrapper: Any = None  # contrib's FunctionWrapper, put back by uninstall()
# contrib's own helpers (untyped): the attributes are built by its code, not a copy of it
_extract_conn_attributes: Any = redis_util._extract_conn_attributes
_format_command_args: Any = redis_util._format_command_args
_contrib: Any = redis_instrumentation


def _missing() -> list[str]:
    import redis

    missing = []
    current = redis.Redis.__dict__.get("execute_command")
    if not hasattr(current, "__wrapped__") or not hasattr(current, "_self_wrapper"):
        missing.append("redis.Redis.execute_command wrapped by contrib (wrapt)")
    for name in ("_traced_execute_factory", "_get_tracer"):
        if not hasattr(redis_instrumentation, name) and not hasattr(redis_instrumentation.RedisInstrumentor, name):
            missing.append(name)
    return missing


def _lean_wrapper(
    tracer_provider: TracerProvider | None, response_hook: Callable[[Any, Any, Any], None], internal_mark: str
) -> Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]:
    tracer = _contrib.RedisInstrumentor._get_tracer(tracer_provider=tracer_provider)
    contrib = _contrib._traced_execute_factory(tracer, None, response_hook)
    modes = _get_semconv_opt_in_modes((_OpenTelemetryStabilitySignalType.DATABASE, _OpenTelemetryStabilitySignalType.HTTP))
    db_mode, http_mode = modes[_OpenTelemetryStabilitySignalType.DATABASE], modes[_OpenTelemetryStabilitySignalType.HTTP]

    def connection_attributes(pool: Any) -> Any:
        attributes = getattr(pool, _CONNECTION, None)
        if attributes is None:
            kwargs = getattr(pool, "connection_kwargs", None)
            if kwargs is None:
                return None
            attributes = _extract_conn_attributes(kwargs, db_mode, http_mode)
            if hasattr(pool, "__dict__"):
                setattr(pool, _CONNECTION, attributes)
        return attributes

    def traced(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        pool = getattr(instance, "connection_pool", None)
        if getattr(pool, internal_mark, False):  # Celery's and kombu's own traffic
            with suppress_instrumentation():
                return wrapped(*args, **kwargs)
        if not is_instrumentation_enabled():
            return wrapped(*args, **kwargs)
        command = args[0] if args else None
        connection = connection_attributes(pool)
        if not command or command in _CONTRIB_OWN or connection is None:
            return contrib(wrapped, instance, args, kwargs)
        attributes: dict[str, Any] = {}
        _set_db_statement(attributes, _format_command_args(args), db_mode)
        attributes[_ARGS_LENGTH] = len(args)
        attributes.update(connection)
        span = tracer.start_span(str(command), kind=SpanKind.CLIENT, attributes=attributes)
        token = context_api.attach(set_span_in_context(span))
        try:
            response = wrapped(*args, **kwargs)
            try:
                response_hook(span, instance, response)
            except Exception:  # contrib's _execute_hook: a hook never fails the command
                _log.warning("Exception raised by hook %r", response_hook, exc_info=True)
            return response
        except Exception as exc:  # what trace.use_span records; BaseException passes through
            record_failure(span, exc)
            raise
        finally:
            context_api.detach(token)
            span.end()

    return traced


def install(tracer_provider: TracerProvider | None, response_hook: Callable[[Any, Any, Any], None], internal_mark: str) -> bool:
    """Once contrib's instrumentor is on: its ``Redis.execute_command`` wrapper swapped for ours."""
    global _contrib_wrapper
    import redis
    import wrapt

    missing = _missing()
    if missing:
        _log.warning("otel_trainerhub: contrib's Redis command path kept (its internals changed: %s)", ", ".join(missing))
        return False
    _contrib_wrapper = redis.Redis.__dict__["execute_command"]
    lean = wrapt.FunctionWrapper(_contrib_wrapper.__wrapped__, _lean_wrapper(tracer_provider, response_hook, internal_mark))
    redis.Redis.execute_command = lean  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    """Contrib's wrapper back, for its own ``uninstrument()`` to take off."""
    global _contrib_wrapper
    import redis

    if _contrib_wrapper is not None and installed():
        redis.Redis.execute_command = _contrib_wrapper  # type: ignore[method-assign]
    _contrib_wrapper = None


def installed() -> bool:
    import redis

    current = redis.Redis.__dict__.get("execute_command")
    return _contrib_wrapper is not None and current is not _contrib_wrapper and getattr(current, "__wrapped__", None) is _contrib_wrapper.__wrapped__
