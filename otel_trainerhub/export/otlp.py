"""The OTLP exporter of each signal, over HTTP or gRPC, from its resolved :class:`OtlpTarget`."""

from __future__ import annotations

import importlib
from typing import Any

from otel_trainerhub.settings import OtlpTarget

__all__ = ["otlp_exporter"]

# signal -> (module under opentelemetry.exporter.otlp.proto.<http|grpc>, class)
_CLASSES = {
    "traces": ("trace_exporter", "OTLPSpanExporter"),
    "metrics": ("metric_exporter", "OTLPMetricExporter"),
    "logs": ("_log_exporter", "OTLPLogExporter"),
}


def exporter_class(target: OtlpTarget) -> Any:
    """The exporter class of ``target`` (importing it: fork.warm_up does, on the main thread)."""
    module, name = _CLASSES[target.signal]
    transport = "grpc" if target.protocol == "grpc" else "http"
    imported = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.{module}")
    if transport == "http":
        from otel_trainerhub.export import encoding

        encoding.install(imported, target.signal)  # the same bytes at a fifth of the cost (undone by shutdown())
    return getattr(imported, name)


def otlp_exporter(target: OtlpTarget) -> Any:
    """A new exporter for ``target``: one per process, built where it is first used."""
    cls = exporter_class(target)
    headers = dict(target.headers) or None
    if target.protocol == "grpc":
        return cls(endpoint=target.endpoint, insecure=target.endpoint.startswith("http://"), headers=headers, timeout=target.timeout)
    return cls(endpoint=target.endpoint, headers=headers, timeout=target.timeout)
