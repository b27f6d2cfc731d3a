"""Celery publish and run spans, one trace from the request that enqueues to the worker that runs.

The contrib instrumentor carries the trace context in the message headers. What is ours
is the prefork exit path: pool children leave through ``os._exit``, so no ``atexit``
handler runs there; we flush (with a bounded wait) on ``worker_process_shutdown``.
"""

from __future__ import annotations

from typing import Any

from otel_trainerhub.instrumentation import InstrumentationContext
from otel_trainerhub.logs import celery_context

_flush_receiver: Any = None


def instrument(context: InstrumentationContext) -> bool:
    global _flush_receiver
    from celery import signals  # ImportError: not installed
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(  # type: ignore[no-untyped-call]
        tracer_provider=context.tracer_provider, meter_provider=context.meter_provider, skip_dep_check=True
    )

    def flush_before_child_exit(**_kwargs: Any) -> None:
        context.flush()

    _flush_receiver = flush_before_child_exit
    signals.worker_process_shutdown.connect(flush_before_child_exit, weak=False)
    celery_context.connect()
    return True


def uninstrument() -> None:
    global _flush_receiver
    from celery import signals
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    celery_context.disconnect()
    if _flush_receiver is not None:
        signals.worker_process_shutdown.disconnect(_flush_receiver)
        _flush_receiver = None
    CeleryInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
