"""The tracer provider's span processor: our enrichment inline, then the exporting processors.

The SDK calls one multi-processor per span event, which calls each added processor in turn.
Added as processors of their own, redaction and attribution would cost three calls each
per span even where they have nothing to do (about a third of what they add). Here they
run inside the multi-processor itself, before the processors added to the provider (the
exporters), which therefore see the span redacted and attributed.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import Span, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.sampling import Sampler

from otel_trainerhub.processors.attribution import AttributionProcessor
from otel_trainerhub.processors.redaction import RedactionProcessor
from otel_trainerhub.processors.sampling import build_sampler, record_every
from otel_trainerhub.settings import Settings

__all__ = ["EnrichingSpanProcessor", "build_enrichment"]


class EnrichingSpanProcessor(SynchronousMultiSpanProcessor):
    """Pass as ``TracerProvider(active_span_processor=...)``; ``add_span_processor`` adds exporters after it."""

    def __init__(self, redaction: RedactionProcessor | None, attribution: AttributionProcessor | None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._start: Callable[[Span, Context | None], None] | None = attribution.on_start if attribution else None
        self._ending: tuple[Callable[[Span], None], ...] = tuple(p._on_ending for p in (redaction, attribution) if p is not None)

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._start is not None:
            self._start(span, parent_context)
        for sp in self._span_processors:
            sp.on_start(span, parent_context=parent_context)

    def _on_ending(self, span: Span) -> None:
        for enrich in self._ending:
            enrich(span)
        for sp in self._span_processors:
            sp._on_ending(span)


def build_enrichment(
    settings: Settings, meter_provider: MeterProvider, extra: tuple[SpanProcessor, ...] = ()
) -> tuple[Sampler, EnrichingSpanProcessor]:
    """The head sampler and the inline processors, then ``extra`` processors (tests' in-memory
    exporters) before the exporting ones."""
    sampler = build_sampler(settings)
    attribution = None
    if settings.performance_monitoring_enabled:
        # Attribution, findings and their metrics cover every request, sampled or not.
        sampler = record_every(sampler)
        attribution = AttributionProcessor(
            meter_provider,
            slow_threshold_s=settings.slow_request_threshold,
            slow_route_thresholds_s=settings.slow_route_thresholds,
            n_plus_one_threshold=settings.n_plus_one_threshold,
            trace_view_url=settings.trace_view_url,
            slow_query_threshold_s=settings.slow_query_threshold,
        )
    enrichment = EnrichingSpanProcessor(RedactionProcessor(), attribution)
    for processor in extra:
        enrichment.add_span_processor(processor)
    return sampler, enrichment
