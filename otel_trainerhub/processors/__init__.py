"""Span processors: what the work under each request, task and command adds up to."""

from otel_trainerhub.processors.attribution import AttributionProcessor, RootState
from otel_trainerhub.processors.sampling import RecordEverySampler

__all__ = ["AttributionProcessor", "RecordEverySampler", "RootState"]
