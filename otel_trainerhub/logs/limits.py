"""Lines that outside input or an outage can multiply: OpenTelemetry's propagators warn once
per malformed ``baggage``/``traceparent``/``tracestate`` header (echoing it), its attribute
limits once per value cut at the length cap, its exporters once per failed export. Each such
logger passes at most ``per_minute`` records a minute; the next one let through says how many
were held back (``suppressed``). The text itself is redacted and cut like every line
(``redaction.py``), and carries the request id when inside a request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Final

__all__ = ["LIBRARY_LOGGERS", "RateLimit", "install", "suppressed_total", "uninstall"]

LIBRARY_LOGGERS: Final = (
    "opentelemetry.baggage.propagation",
    "opentelemetry.propagators.composite",
    "opentelemetry.trace.propagation.tracecontext",
    "opentelemetry.trace.span",  # one warning per malformed tracestate member, echoing it
    "opentelemetry.attributes",  # one warning per value cut at the length cap (a long User-Agent)
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._log_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.sdk._shared_internal",
    "health_check",  # django-health-check: a warning with traceback per failed check
)


class RateLimit(logging.Filter):
    def __init__(self, per_minute: int = 10, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._window = clock()
        self._passed = 0
        self.suppressed = 0  # held back since the last record let through
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._window >= 60:
                self._window, self._passed = now, 0
            if self._passed >= self.per_minute:
                self.suppressed += 1
                self.suppressed_total += 1
                return False
            self._passed += 1
            if self.suppressed:
                record.suppressed = self.suppressed
                self.suppressed = 0
        return True


_installed: dict[str, RateLimit] = {}


def install(per_minute: int = 10) -> None:
    for name in LIBRARY_LOGGERS:
        if name not in _installed:
            limit = RateLimit(per_minute)
            logging.getLogger(name).addFilter(limit)
            _installed[name] = limit


def uninstall() -> None:
    for name, limit in _installed.items():
        logging.getLogger(name).removeFilter(limit)
    _installed.clear()


def suppressed_total() -> int:
    return sum(limit.suppressed_total for limit in _installed.values())
