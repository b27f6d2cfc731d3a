"""Outbound HTTP through urllib3 directly (under requests, the requests span stands alone)."""

from __future__ import annotations

from otel_trainerhub.instrumentation import InstrumentationContext


def instrument(context: InstrumentationContext) -> bool:
    import urllib3  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    URLLib3Instrumentor().instrument(
        tracer_provider=context.tracer_provider, meter_provider=context.meter_provider, skip_dep_check=True
    )
    return True


def uninstrument() -> None:
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    URLLib3Instrumentor().uninstrument()
