"""Span processors: what the work under each request, task and command adds up to."""

from otel_trainerhub.processors.attribution import AttributionProcessor, RootState
from otel_trainerhub.processors.pipeline import EnrichingSpanProcessor
from otel_trainerhub.processors.redaction import RedactionProcessor
from otel_trainerhub.processors.sampling import RECORD_ONLY, RecordEverySampler, record_every

__all__ = [
    "RECORD_ONLY",
    "AttributionProcessor",
    "EnrichingSpanProcessor",
    "RecordEverySampler",
    "RedactionProcessor",
    "RootState",
    "record_every",
]
