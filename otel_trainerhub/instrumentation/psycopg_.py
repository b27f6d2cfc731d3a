"""PostgreSQL through psycopg 3: statements as sent (parameterised), literals masked."""

from __future__ import annotations

from otel_trainerhub.instrumentation import InstrumentationContext
from otel_trainerhub.instrumentation import dbapi_policy


def instrument(context: InstrumentationContext) -> bool:
    import psycopg  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    dbapi_policy.apply()
    PsycopgInstrumentor().instrument(tracer_provider=context.tracer_provider, skip_dep_check=True)
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().uninstrument()
