"""Which libraries otel_trainerhub instruments, and in what order: the one place that knows.

Each module is a thin adapter over the contrib instrumentor (STYLE §1) exposing
``instrument(context) -> bool`` (False: the library is not installed) and ``uninstrument()``.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from types import ModuleType

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import TracerProvider

from otel_trainerhub.settings import INSTRUMENTATION_NAMES, Settings

__all__ = ["InstrumentationContext", "instrument_all", "uninstrument_all"]

_log = logging.getLogger("otel_trainerhub.instrumentation")


@dataclasses.dataclass(frozen=True)
class InstrumentationContext:
    settings: Settings
    tracer_provider: TracerProvider
    meter_provider: MeterProvider


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"otel_trainerhub.instrumentation.{name}_")


def instrument_all(context: InstrumentationContext) -> list[str]:
    """Instrument every supported library that is installed and not disabled; return their names."""
    done = []
    for name in INSTRUMENTATION_NAMES:
        if name in context.settings.disabled_instrumentations:
            _log.debug("otel_trainerhub: %s instrumentation disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", name)
            continue
        try:
            installed = _module(name).instrument(context)
        except ImportError as exc:
            _log.debug("otel_trainerhub: %s not instrumented: %s", name, exc)
            continue
        if installed:
            done.append(name)
    return done


def uninstrument_all(names: list[str]) -> None:
    for name in reversed(names):
        _module(name).uninstrument()
