"""The log pipeline: a logger provider whose batch processor exports over OTLP, counted."""

from __future__ import annotations

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.resources import Resource

from otel_trainerhub.export.batching import LOG_SUCCESS, CountingExporter, DropCountingBatchLogRecordProcessor
from otel_trainerhub.export.otlp import otlp_exporter
from otel_trainerhub.settings import Settings

__all__ = ["build_logger_provider"]


def build_logger_provider(settings: Settings, resource: Resource) -> tuple[LoggerProvider, list[DropCountingBatchLogRecordProcessor]] | None:
    """The logger provider, or None when logs are not exported over OTLP."""
    target = settings.otlp_target("logs")
    if target is None:
        return None
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    exporter = CountingExporter(lambda: otlp_exporter(target), name=f"OTLP {target.protocol} logs", signal="logs", success=LOG_SUCCESS)
    processor = DropCountingBatchLogRecordProcessor(exporter, schedule_delay_millis=settings.bsp_schedule_delay_ms)  # type: ignore[arg-type]
    provider.add_log_record_processor(processor)
    return provider, [processor]
