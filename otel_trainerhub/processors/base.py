"""What our span processors share: they work in ``_on_ending``, the last moment a span can change."""

from __future__ import annotations

from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


def set_frozen_attribute(attributes: Any, key: str, value: Any) -> None:
    """Set ``key`` on a span's (or event's) attribute mapping, even once the SDK has frozen it.

    The SDK freezes a span's attributes just before calling ``_on_ending``; the read-only
    span it then builds for export shares the same mapping, so a value set here is the
    value exported. Events may carry a plain dict.
    """
    frozen = getattr(attributes, "_immutable", None)
    if frozen is None:
        attributes[key] = value
        return
    attributes._immutable = False
    try:
        attributes[key] = value
    finally:
        attributes._immutable = frozen


class OnEndingProcessor(SpanProcessor):
    """A span processor that acts in ``_on_ending`` only (subclasses override it and, if they need, ``on_start``)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
