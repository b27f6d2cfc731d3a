"""What our span processors share: they work in ``_on_ending``, the last moment a span can change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


def set_frozen_attributes(attributes: Any, values: Mapping[str, Any]) -> None:
    """Set ``values`` on a span's (or event's) attribute mapping, even once the SDK has frozen it.

    The SDK freezes a span's attributes just before calling ``_on_ending``; the read-only
    span it then builds for export shares the same mapping, so a value set here is the
    value exported. Events may carry a plain dict.
    """
    frozen = getattr(attributes, "_immutable", None)
    if frozen is None:
        attributes.update(values)
        return
    attributes._immutable = False
    try:
        # One validation pass and one lock for all of them, where the SDK has the method.
        set_items = getattr(attributes, "_set_items", None)
        if set_items is not None:
            set_items(values)
        else:
            for key, value in values.items():
                attributes[key] = value
    finally:
        attributes._immutable = frozen


def set_frozen_attribute(attributes: Any, key: str, value: Any) -> None:
    set_frozen_attributes(attributes, {key: value})


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
