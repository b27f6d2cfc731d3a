"""SQLite: the demo's embedded database, traced like PostgreSQL."""

from __future__ import annotations

from otel_trainerhub.instrumentation import InstrumentationContext
from otel_trainerhub.instrumentation import dbapi_policy


def instrument(context: InstrumentationContext) -> bool:
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    dbapi_policy.apply()
    SQLite3Instrumentor().instrument(tracer_provider=context.tracer_provider, skip_dep_check=True)
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor

    SQLite3Instrumentor().uninstrument()
