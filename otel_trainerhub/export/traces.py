"""The span pipeline: sampler, tracer provider, and one batch processor per exporter
(OTLP, console, the JSON-lines file), each counting what it delivers and drops."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SynchronousMultiSpanProcessor, TracerProvider
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from otel_trainerhub.export.batching import SPAN_SUCCESS, CountingExporter, DropCountingBatchSpanProcessor
from otel_trainerhub.export.otlp import otlp_exporter
from otel_trainerhub.settings import Settings

__all__ = ["JsonLinesSpanExporter", "build_tracer_provider"]


class JsonLinesSpanExporter(SpanExporter):
    """Appends each span as one JSON line to a file (the demo's local sink)."""

    def __init__(self, path: str) -> None:
        self._path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(span.to_json(indent=None) + "\n" for span in spans).encode()
        # One O_APPEND write per batch: processes sharing the file never interleave lines.
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _exporters(settings: Settings) -> Iterator[CountingExporter]:
    target = settings.otlp_target("traces")
    if target is not None:
        yield CountingExporter(lambda: otlp_exporter(target), name=f"OTLP {target.protocol}", signal="spans", success=SPAN_SUCCESS)
    elif settings.traces_exporter == "console":
        yield CountingExporter(ConsoleSpanExporter, name="console", signal="spans", success=SPAN_SUCCESS, collector=False)
    if settings.span_file:
        path = settings.span_file
        yield CountingExporter(
            lambda: JsonLinesSpanExporter(path), name=f"file {path}", signal="spans", success=SPAN_SUCCESS, collector=False
        )


def _span_limits(settings: Settings) -> SpanLimits:
    """Attribute values bounded at the SDK (one character past our limit, so the redaction
    processor can tell a cut value and mark it), unless the OTel variables set a limit."""
    if os.environ.get("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT") or os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"):
        return SpanLimits()
    return SpanLimits(max_attribute_length=settings.value_length_limit + 1)


def build_tracer_provider(
    settings: Settings,
    resource: Resource,
    sampler: sdk_sampling.Sampler,
    enrichment: SynchronousMultiSpanProcessor,
    **provider_options: object,
) -> tuple[TracerProvider, list[DropCountingBatchSpanProcessor]]:
    """The tracer provider: ``enrichment`` inline (redaction, attribution), then the exporters,
    which therefore see every span enriched. ``provider_options`` go to the SDK (id generator)."""
    provider = TracerProvider(
        resource=resource,
        sampler=sampler,
        span_limits=_span_limits(settings),
        shutdown_on_exit=False,  # ours is bounded: see export.Pipelines.shutdown
        active_span_processor=enrichment,
        **provider_options,  # type: ignore[arg-type]
    )
    processors = [
        DropCountingBatchSpanProcessor(
            exporter,  # type: ignore[arg-type]
            max_queue_size=settings.bsp_max_queue_size,
            schedule_delay_millis=settings.bsp_schedule_delay_ms,
            max_export_batch_size=settings.bsp_max_export_batch_size,
        )
        for exporter in _exporters(settings)
    ]
    for processor in processors:
        provider.add_span_processor(processor)
    return provider, processors
