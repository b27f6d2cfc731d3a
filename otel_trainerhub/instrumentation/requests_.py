"""Outbound HTTP through requests: the email, SMS and payment providers."""

from __future__ import annotations

from otel_trainerhub.instrumentation import InstrumentationContext


def instrument(context: InstrumentationContext) -> bool:
    import requests  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(
        tracer_provider=context.tracer_provider, meter_provider=context.meter_provider, skip_dep_check=True
    )
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().uninstrument()
