"""PostgreSQL through psycopg2, for deployments still on it."""

from __future__ import annotations

from otel_trainerhub.instrumentation import InstrumentationContext
from otel_trainerhub.instrumentation import dbapi_policy


def instrument(context: InstrumentationContext) -> bool:
    import psycopg2  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

    dbapi_policy.apply()
    Psycopg2Instrumentor().instrument(tracer_provider=context.tracer_provider, skip_dep_check=True)
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

    Psycopg2Instrumentor().uninstrument()
