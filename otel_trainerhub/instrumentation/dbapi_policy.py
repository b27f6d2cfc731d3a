"""Our policy on top of the contrib DB-API tracer: no SQL literal ever reaches a span."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import wrapt

from otel_trainerhub.sql import sanitize

_applied = False


def _sanitized_statement(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    statement = wrapped(*args, **kwargs)
    return sanitize(statement) if isinstance(statement, str) else statement


def apply() -> None:
    """Mask literals in ``db.statement`` / ``db.query.text`` for every DB-API instrumentor."""
    global _applied
    if _applied:
        return
    wrapt.wrap_function_wrapper("opentelemetry.instrumentation.dbapi", "CursorTracer.get_statement", _sanitized_statement)
    _applied = True
