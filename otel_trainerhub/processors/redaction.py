"""The redaction policy (``otel_trainerhub.redaction``) on span attributes and exception events.

Only attributes that carry what a user sent are scanned (URLs, query strings, user agent,
captured headers, exception messages), so the cost per span is a handful of dict lookups;
database statements were already masked at the source (``instrumentation/dbapi_policy``).
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.sdk.trace import Span

from otel_trainerhub.processors.base import OnEndingProcessor, set_frozen_attribute
from otel_trainerhub.redaction import REDACTED, is_sensitive_key, redact_text

__all__ = ["RedactionProcessor"]

_FREE_TEXT_KEYS: Final = ("http.url", "url.full", "http.target", "url.query", "http.user_agent", "user_agent.original")
_HEADER_PREFIXES: Final = ("http.request.header.", "http.response.header.")
_EVENT_KEYS: Final = ("exception.message", "exception.stacktrace")


class RedactionProcessor(OnEndingProcessor):
    def _on_ending(self, span: Span) -> None:
        try:
            attributes: Any = span._attributes
            for key in _FREE_TEXT_KEYS:
                value = attributes.get(key)
                if isinstance(value, str):
                    masked = redact_text(value, escape_control=False)
                    if masked is not value and masked != value:
                        set_frozen_attribute(attributes, key, masked)
            if len(attributes) > 12 or any(k.startswith(_HEADER_PREFIXES) for k in attributes):
                for key in list(attributes):
                    if is_sensitive_key(key.rsplit(".", 1)[-1]) and attributes[key] not in (None, ""):
                        set_frozen_attribute(attributes, key, REDACTED)
            for event in span._events:
                event_attributes: Any = event.attributes
                for key in _EVENT_KEYS:
                    value = event_attributes.get(key) if event_attributes else None
                    if isinstance(value, str):
                        set_frozen_attribute(event_attributes, key, redact_text(value, escape_control=False))
        except Exception:  # never into the application's code path
            pass
