"""Log records to OTLP, with trace context, through the same processors as the JSON lines."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource

from otel_trainerhub.logs.setup import _SHARED, _dumps, redact
from otel_trainerhub.providers import STATS, ProcessLocal, fork_gate
from otel_trainerhub.settings import Settings

__all__ = ["OtlpLogHandler", "build_log_provider"]

_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_FINISH: list[Any] = [
    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    structlog.processors.format_exc_info,
    redact,
]
_FOREIGN: list[Any] = [*_SHARED, structlog.stdlib.ExtraAdder()]
_OWN_PIPELINE = ("opentelemetry", "otel_trainerhub.export", "urllib3", "grpc")


class PerProcessLogExporter(LogRecordExporter):
    """One real log exporter per process (see providers.PerProcessExporter); failures are counted."""

    def __init__(self, factory: Callable[[], LogRecordExporter]) -> None:
        self._exporter = ProcessLocal(factory)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        try:
            with fork_gate(self._exporter.gate):
                result = self._exporter.get().export(batch)
        except Exception as exc:
            STATS.record_dropped(len(batch), "export_failed", repr(exc), signal="logs")
            return LogRecordExportResult.FAILURE
        if result is not LogRecordExportResult.SUCCESS:
            STATS.record_dropped(len(batch), "export_failed", "the collector did not accept the log batch", signal="logs")
        return result

    def shutdown(self) -> None:
        inner = self._exporter.mine()
        if inner is not None:
            inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class DropCountingBatchLogRecordProcessor(BatchLogRecordProcessor):
    """The SDK's batch log processor, with every record it has to drop counted."""

    def on_emit(self, log_record: Any) -> None:
        batch = self._batch_processor
        if batch._shutdown:
            STATS.record_dropped(1, "after_shutdown", signal="logs")
        elif len(batch._queue) >= batch._max_queue_size and batch._pid == os.getpid():
            STATS.record_dropped(1, "queue_full", signal="logs")
        super().on_emit(log_record)


class OtlpLogHandler(logging.Handler):
    """Emits each record as an OTel log record: the message as body, the redacted fields as attributes."""

    def __init__(self, provider: LoggerProvider, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = provider

    def event_dict(self, record: logging.LogRecord) -> dict[str, Any]:
        if isinstance(record.msg, dict) and "_from_structlog" in record.msg:
            event: dict[str, Any] = dict(record.msg)
            event["_record"] = record
        else:
            event = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
            if record.exc_info:
                event["exc_info"] = record.exc_info
            for processor in _FOREIGN:
                event = processor(None, record.levelname.lower(), event)
        for processor in _FINISH:
            event = processor(None, record.levelname.lower(), event)
        return event

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_OWN_PIPELINE):
            return  # the export path's own complaints would feed back into the export path
        try:
            event = self.event_dict(record)
            body = event.pop("event", "")
            for key in ("timestamp", "levelname", "trace_id", "span_id"):
                event.pop(key, None)  # carried by the log record's own fields
            attributes = {
                k: v if isinstance(v, (str, bool, int, float)) else _dumps(v) for k, v in event.items() if v is not None
            }
            self._provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                observed_timestamp=time.time_ns(),
                severity_number=_SEVERITY.get(record.levelno, SeverityNumber.INFO),
                severity_text=record.levelname,
                body=str(body),
                attributes=attributes,
            )
        except Exception:
            self.handleError(record)


def build_log_provider(settings: Settings, resource: Resource) -> LoggerProvider:
    def exporter() -> LogRecordExporter:
        assert settings.exporter_endpoint is not None
        headers = dict(settings.exporter_headers) or None
        if settings.exporter_protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter

            return GrpcLogExporter(
                endpoint=settings.exporter_endpoint,
                insecure=settings.exporter_endpoint.startswith("http://"),
                headers=headers,
                timeout=settings.exporter_timeout,
            )
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter

        return HttpLogExporter(endpoint=f"{settings.exporter_endpoint}/v1/logs", headers=headers, timeout=settings.exporter_timeout)

    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(
        DropCountingBatchLogRecordProcessor(PerProcessLogExporter(exporter), schedule_delay_millis=settings.bsp_schedule_delay_ms)
    )
    return provider
