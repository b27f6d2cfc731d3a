"""The redaction policy (``otel_trainerhub.redaction``) on span attributes, status and exception events.

Only what can carry what a user sent is scanned (URLs, query strings, user agent, captured
headers, exception messages and the status description the instrumentations copy them
into), so the cost per span is a handful of dict lookups;
database statements were already masked at the source (``instrumentation/contrib.py``).
"""

from __future__ import annotations

import os
from typing import Any, Final

from opentelemetry.sdk.trace import Span
from opentelemetry.trace import Status

from otel_trainerhub.contain import contained, swallowed
from otel_trainerhub._sdk import (
    replace_status,
    set_frozen_attributes,
    span_attribute_dict,
    span_attributes,
    span_event_deque,
    span_events,
    span_status,
    span_status_description,
)
from otel_trainerhub.processors.base import OnEndingProcessor
from otel_trainerhub import redaction
from otel_trainerhub.redaction import REDACTED, cap, is_sensitive_key, redact_text

__all__ = ["RedactionProcessor"]

_FREE_TEXT_KEYS: Final = ("http.url", "url.full", "http.target", "url.query", "http.user_agent", "user_agent.original")
_HEADER_PREFIXES: Final = ("http.request.header.", "http.response.header.")
_EVENT_KEYS: Final = ("exception.message", "exception.stacktrace")


# The instrumentations capture headers only when told to by these variables.
_HEADER_CAPTURE_VARIABLES: Final = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE",
)
_FREE_TEXT_KEY_SET: Final = frozenset(_FREE_TEXT_KEYS)


class RedactionProcessor(OnEndingProcessor):
    def __init__(self, *, scan_headers: bool | None = None) -> None:
        # Header attributes exist only where header capture is configured: scan for them then.
        self._scan_headers = any(os.environ.get(v) for v in _HEADER_CAPTURE_VARIABLES) if scan_headers is None else scan_headers

    def _on_ending(self, span: Span) -> None:
        try:
            plain = span_attribute_dict(span)  # reads without the mapping's per-key exception path
            limit = redaction.value_length_limit
            if not _FREE_TEXT_KEY_SET.isdisjoint(plain):
                for key in _FREE_TEXT_KEYS:
                    value = plain.get(key)
                    if isinstance(value, str):
                        masked = redact_text(value, escape_control=False)
                        if masked != value:
                            set_frozen_attributes(span_attributes(span), {key: masked})
            # The SDK cuts at limit + 1 (export/traces.py): what it cut, or what masking made
            # longer, gets the marker. Set after the scan: setting a key re-inserts it, which
            # a running iteration forbids.
            over: dict[str, Any] | None = None  # a loop, not a comprehension: no frame of its own per span
            for key, value in plain.items():
                if type(value) is str and len(value) > limit:
                    if over is None:
                        over = {}
                    over[key] = cap(value, limit)
            if over:
                set_frozen_attributes(span_attributes(span), over)
            if self._scan_headers:
                for key in [k for k in plain if k.startswith(_HEADER_PREFIXES)]:
                    if is_sensitive_key(key.rsplit(".", 1)[-1]) and plain[key] not in (None, ""):
                        set_frozen_attributes(span_attributes(span), {key: REDACTED})
            description = span_status_description(span)
            if description:
                # "ValueError: malformed card number '4111 ...'": the exception's message again.
                masked = redact_text(description, escape_control=False)
                if masked != description:
                    replace_status(span, Status(span_status(span).status_code, masked))
            if not span_event_deque(span):
                return
            for event in span_events(span):
                event_attributes: Any = event.attributes
                for key in _EVENT_KEYS:
                    value = event_attributes.get(key) if event_attributes else None
                    if isinstance(value, str):
                        set_frozen_attributes(event_attributes, {key: redact_text(value, escape_control=False)})
        except Exception:  # never into the application's code path; fail closed
            with contained("span redaction fallback"):
                _drop_free_text(span)
            swallowed("span redaction")


def _drop_free_text(span: Span) -> None:
    # What could not be redacted is not shipped: the free-text attributes and the status text.
    attributes = span_attributes(span)
    present = {key: REDACTED for key in _FREE_TEXT_KEYS if key in attributes}
    if present:
        set_frozen_attributes(attributes, present)
    replace_status(span, Status(span.status.status_code))
    for event in span_events(span):
        for key in _EVENT_KEYS:
            if event.attributes and key in event.attributes:
                set_frozen_attributes(event.attributes, {key: REDACTED})
