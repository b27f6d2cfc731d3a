"""What our span processors share: they work in ``_on_ending``, the last moment a span can change."""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


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
