"""The stdlib/OTLP bridge: log records to the logger provider (export/logs.py), with trace
context, through the same processors as the JSON lines."""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from otel_trainerhub.logs import events
from otel_trainerhub.logs.chain import FINISH_JSON, FOREIGN, _dumps

__all__ = ["OtlpLogHandler"]

_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_OWN_PIPELINE = ("opentelemetry", "otel_trainerhub.export", "urllib3", "grpc")


def _trace_context(trace_id: object, span_id: object) -> Context | None:
    """The trace the JSON line names, for the OTLP record too. Records logged after their span
    stopped being current (a root's "N+1 query detected", Django's "Not Found") carry the ids
    the request bound, not a current span; without this they would be exported with none."""
    if not (isinstance(trace_id, str) and isinstance(span_id, str)):
        return None
    current = trace.get_current_span().get_span_context()
    if current.is_valid and format(current.trace_id, "032x") == trace_id:
        return None  # the SDK takes the current span's context itself
    try:
        context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT))
    except ValueError:
        return None
    return trace.set_span_in_context(NonRecordingSpan(context)) if context.is_valid else None


class OtlpLogHandler(logging.Handler):
    """Emits each record as an OTel log record: the message as body, the redacted fields as attributes."""

    otlp = True  # the one handler logs.setup.set_otlp_handler replaces

    def __init__(self, provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = provider
        self._loggers: dict[str, Any] = {}  # the provider's get_logger takes a lock per call

    def event_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        # The JSON sinks' event, redacted alike (built once for all of them: logs/events.py).
        return events.prepared(record, None, record.levelname.lower(), FOREIGN, FINISH_JSON)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN_PIPELINE):
            return  # the export path's own complaints would feed back into the export path
        try:
            event = self.event_dict(record)
            body = event.pop("event", "")
            trace_id, span_id = event.pop("trace_id", None), event.pop("span_id", None)
            for key in ("timestamp", "levelname"):
                event.pop(key, None)  # carried by the log record's own fields
            attributes = {
                k: v if isinstance(v, (str, bool, int, float)) else _dumps(v) for k, v in event.items() if v is not None
            }
            logger = self._loggers.get(record.name)
            if logger is None:
                if len(self._loggers) >= 1024:
                    self._loggers.clear()
                logger = self._loggers[record.name] = self._provider.get_logger(record.name)
            logger.emit(
                timestamp=int(record.created * 1e9),
                observed_timestamp=time.time_ns(),
                severity_number=_SEVERITY.get(record.levelno, SeverityNumber.INFO),
                severity_text=record.levelname,
                body=str(body),
                attributes=attributes,
                context=_trace_context(trace_id, span_id),
            )
        except Exception:
            self.handleError(record)
