"""Contrib's DB-API statement path, leaner: ``CursorTracer.traced_execution`` replaced by one
that makes the same span (name, kind, attributes, status, exception event) for about half
the instructions.

Contrib starts the span bare, then sets each attribute with its own validation and lock,
runs the operation-name regex and the statement policy on every execution, and enters two
context managers. Here the attributes go in one dict at start (the SDK validates them
once, within the same limits), the operation name and the masked statement are computed
once per statement text, and the span is made current by one attach. What the lean path
does not cover takes contrib's own: a statement that is not a ``str`` (psycopg's
``Composable``, bytes), sqlcommenter, captured parameters, and the new database semantic
conventions (whose duration metrics contrib records). The instrumentors themselves stay
contrib's: connection wrapping, the connection attributes, the suppression key.

``tests/unit/test_sql_spans.py`` runs both paths on the same statements and compares the
spans; the internals used are checked when the path is installed, and a contrib without
them keeps its own path, with a warning naming what is missing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.instrumentation import dbapi
from opentelemetry.instrumentation._semconv import _report_new, _set_db_name, _set_db_statement, _set_db_system
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, set_span_in_context

from otel_trainerhub.failure import record_failure

__all__ = ["install", "installed", "uninstall"]

_log = logging.getLogger("otel_trainerhub.instrumentation")

_ORIGINAL = dbapi.CursorTracer.__dict__["traced_execution"]
# contrib's CursorTracer._leading_comment_remover: the operation is the first word after it
_LEADING_COMMENT = re.compile(r"^/\*.*?\*/")
# set on each DatabaseApiIntegration (one per connection; sqlite3's cursors get a CursorTracer
# each) at its first statement, once contrib has read the connection's attributes
_PLAN = "_otel_trainerhub_plan"
_COLD: Any = object()
_mask: Callable[[str], str] = str


def _missing() -> list[str]:
    tracer_names = dbapi.CursorTracer.__init__.__code__.co_names
    integration_names = dbapi.DatabaseApiIntegration.__init__.__code__.co_names
    missing = [f"CursorTracer.{n}" for n in ("_db_api_integration", "_commenter_enabled") if n not in tracer_names]
    if "enable_commenter" not in tracer_names:
        missing.append("CursorTracer._commenter_enabled from DatabaseApiIntegration.enable_commenter")
    missing += [
        f"DatabaseApiIntegration.{n}"
        for n in ("_tracer", "_sem_conv_opt_in_mode_db", "capture_parameters", "span_attributes", "database", "name", "database_system")
        if n not in integration_names
    ]
    if "_populate_span" not in _ORIGINAL.__code__.co_names:
        missing.append("CursorTracer.traced_execution calls _populate_span")
    return missing


@lru_cache(maxsize=4096)
def _prepared(statement: str) -> tuple[str, str]:
    """(operation name as contrib derives it, the statement under our SQL policy)."""
    words = _LEADING_COMMENT.sub("", statement).split()
    return (words[0] if words else ""), _mask(statement)


_Plan = tuple[Any, dict[str, Any], tuple[str, ...], dict[str, Any], str]


def _plan(cursor_tracer: Any) -> _Plan | None:
    integration = cursor_tracer._db_api_integration
    mode = integration._sem_conv_opt_in_mode_db
    plan = None
    if not (cursor_tracer._commenter_enabled or integration.capture_parameters or _report_new(mode)):
        head: dict[str, Any] = {}
        _set_db_system(head, integration.database_system, mode)
        _set_db_name(head, integration.database, mode)
        keys: dict[str, Any] = {}
        _set_db_statement(keys, "", mode)
        plan = (integration._tracer, head, tuple(keys), dict(integration.span_attributes), integration.database or integration.name)
    setattr(integration, _PLAN, plan)
    return plan


def traced_execution(self: Any, cursor: Any, query_method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    statement = args[0] if args else None
    plan: _Plan | None = getattr(self._db_api_integration, _PLAN, _COLD)
    if plan is _COLD:
        plan = _plan(self)
    if plan is None or type(statement) is not str or not is_instrumentation_enabled():
        return _ORIGINAL(self, cursor, query_method, *args, **kwargs)
    tracer, head, keys, tail, fallback_name = plan
    operation, masked = _prepared(statement)
    attributes = dict(head)
    for key in keys:
        attributes[key] = masked
    attributes.update(tail)
    span = tracer.start_span(operation or fallback_name, kind=SpanKind.CLIENT, attributes=attributes)
    token = context_api.attach(set_span_in_context(span))
    try:
        return query_method(*args, **kwargs)
    except Exception as exc:  # what trace.use_span records; BaseException passes through
        record_failure(span, exc)
        raise
    finally:
        context_api.detach(token)
        span.end()


def install(mask: Callable[[str], str]) -> bool:
    """Replace contrib's statement path; ``mask`` is the SQL policy for the statement's text."""
    global _mask
    missing = _missing()
    if missing:
        _log.warning("otel_trainerhub: contrib's DB-API path kept (its internals changed: %s)", ", ".join(missing))
        return False
    _mask = mask
    _prepared.cache_clear()
    dbapi.CursorTracer.traced_execution = traced_execution  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    dbapi.CursorTracer.traced_execution = _ORIGINAL  # type: ignore[method-assign]
    _prepared.cache_clear()


def installed() -> bool:
    return dbapi.CursorTracer.__dict__["traced_execution"] is traced_execution
