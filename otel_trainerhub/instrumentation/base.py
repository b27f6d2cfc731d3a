"""What every adapter gets (the providers and settings) and checks (the supported versions)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from otel_trainerhub.settings import Settings

__all__ = ["InstrumentationContext", "supported"]

_log = logging.getLogger("otel_trainerhub.instrumentation")


@dataclasses.dataclass(frozen=True)
class InstrumentationContext:
    settings: Settings
    tracer_provider: TracerProvider
    meter_provider: MeterProvider



def supported(name: str, instrumentor: Any) -> bool:
    """The installed library is within the versions ``instrumentor`` supports (its
    ``instrumentation_dependencies()``); if not, it is left alone, with a warning."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts

    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        _log.warning("otel_trainerhub: %s is not traced: %s", name, conflict)
    return conflict is None
