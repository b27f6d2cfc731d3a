"""Head sampling that still lets the processors see every request.

A span the sampler drops is never recorded, so no processor hears of it. Here what a
sampler would drop is recorded instead (RECORD_ONLY): attributed, logged and counted in
metrics, but not sampled, so the batch processor never exports it.

:func:`record_every` builds that with no extra layer where it can (the default
``parentbased_always_on`` stays the SDK's own sampler, with RECORD_ONLY in place of DROP
for unsampled parents), since the sampler runs for every span.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from otel_trainerhub import _sdk
from otel_trainerhub.settings import Settings

__all__ = ["RECORD_ONLY", "RecordEverySampler", "build_sampler", "record_every"]


class RecordEverySampler(Sampler):
    """Wraps any sampler: its DROP becomes RECORD_ONLY."""

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            # A dropping sampler returns no attributes; a recorded span needs the caller's.
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordEvery{{{self._inner.get_description()}}}"


class _RecordOnlySampler(StaticSampler):
    def __init__(self) -> None:
        super().__init__(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "RecordOnlySampler"


#: Records every span and samples none.
RECORD_ONLY: Sampler = _RecordOnlySampler()


def record_every(sampler: Sampler) -> Sampler:
    """``sampler`` with DROP turned into RECORD_ONLY, as cheaply as that can be built."""
    if sampler is ALWAYS_ON:
        return sampler
    if sampler is ALWAYS_OFF:
        return RECORD_ONLY
    if type(sampler) is ParentBased:
        return ParentBased(**{name: record_every(s) for name, s in _sdk.parent_based_delegates(sampler).items()})
    return RecordEverySampler(sampler)


def build_sampler(settings: Settings) -> Sampler:
    """The head sampler ``OTEL_TRACES_SAMPLER`` names."""
    ratio = TraceIdRatioBased(settings.sampler_arg)
    return {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(ratio),
    }[settings.sampler]
