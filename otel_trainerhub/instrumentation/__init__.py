"""Which libraries otel_trainerhub instruments, and in what order: the one place that knows.

Each adapter is a thin layer over the contrib instrumentor (STYLE §1) exposing
``instrument(context) -> bool`` (False: not instrumented) and ``uninstrument()``: a module
of its own for Django (a package), Redis and Celery, one table in contrib.py for the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from typing import Any, Protocol, cast

from otel_trainerhub.instrumentation import contrib
from otel_trainerhub.instrumentation.base import InstrumentationContext
from otel_trainerhub.settings import INSTRUMENTATION_NAMES

__all__ = ["InstrumentationContext", "instrument_all", "uninstrument_all"]

_log = logging.getLogger("otel_trainerhub.instrumentation")


class _Adapter(Protocol):
    def instrument(self, context: InstrumentationContext) -> bool: ...

    def uninstrument(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class _Contrib:
    """A library that needs nothing of ours but the providers (instrumentation/contrib.py)."""

    name: str

    def instrument(self, context: InstrumentationContext) -> bool:
        return contrib.instrument(self.name, context)

    def uninstrument(self) -> None:
        contrib.uninstrument(self.name)


#: Libraries with adapters of their own; the rest are in contrib.py.
_OWN = {"django": "django", "redis": "redis_", "celery": "celery_"}


def _adapter(name: str) -> _Adapter:
    if name not in _OWN:
        return _Contrib(name)
    module: Any = importlib.import_module(f"otel_trainerhub.instrumentation.{_OWN[name]}")
    return cast(_Adapter, module)


def instrument_all(context: InstrumentationContext) -> list[str]:
    """Instrument every supported library that is installed and not disabled; return their names."""
    done = []
    for name in INSTRUMENTATION_NAMES:
        if name in context.settings.disabled_instrumentations:
            _log.debug("otel_trainerhub: %s instrumentation disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", name)
            continue
        try:
            installed = _adapter(name).instrument(context)
        except ImportError as exc:
            _log.debug("otel_trainerhub: %s not instrumented: %s", name, exc)
            continue
        if installed:
            done.append(name)
    return done


def uninstrument_all(names: list[str]) -> None:
    for name in reversed(names):
        _adapter(name).uninstrument()
