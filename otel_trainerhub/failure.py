"""How a span records that the code it wraps raised: as ``trace.use_span`` does.

One spelling for every span we start and end ourselves (the Django server span and its
streamed end, the lean SQL and Redis paths), so their exception event and their
``ERROR`` status read exactly like the ones contrib's spans get from ``use_span``.
"""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode

__all__ = ["record_failure"]


def record_failure(span: Span, error: BaseException) -> None:
    """The exception event, then the ERROR status ``"Type: message"``; nothing on a span not recording."""
    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
