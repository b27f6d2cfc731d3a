"""Celery publish and run spans, one trace from the request that enqueues to the worker that runs.

The contrib instrumentor carries the trace context in the message headers; the logging
context follows tasks (celery_context.py). The prefork exit path (children leave
through ``os._exit``) is export/fork.py's.
"""

from __future__ import annotations

from otel_trainerhub.instrumentation.base import InstrumentationContext, supported
from otel_trainerhub.instrumentation import celery_context

def instrument(context: InstrumentationContext) -> bool:
    import celery  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    if not supported("celery", CeleryInstrumentor()):  # type: ignore[no-untyped-call]
        return False
    CeleryInstrumentor().instrument(  # type: ignore[no-untyped-call]
        tracer_provider=context.tracer_provider, meter_provider=context.meter_provider, skip_dep_check=True  # checked just above
    )
    celery_context.connect()
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    celery_context.disconnect()
    CeleryInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
