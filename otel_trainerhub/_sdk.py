"""Every private attribute of the OpenTelemetry SDK that otel_trainerhub relies on, in one place.

Each is checked against the installed SDK when this module is imported, so an SDK upgrade
that moves one fails at start-up with a message naming it, not later on a request.
Where a public API does the job it is used instead, and nothing here is needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY, _SUPPRESS_INSTRUMENTATION_KEY, Context, set_value
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

__all__ = ["SdkMismatch", "batch_state", "exporter_preferences", "reset_reader_export_lock", "suppressed_context", "update_resource"]


class SdkMismatch(ImportError):
    """The installed OpenTelemetry SDK lacks an internal otel_trainerhub relies on."""


def batch_state(processor: BatchSpanProcessor | BatchLogRecordProcessor) -> Any:
    """The shared batch processor behind the SDK's span and log batch processors: its
    ``_queue`` (a bounded deque), ``_max_queue_size``, ``_shutdown``, ``_pid`` and ``_exporter``."""
    return processor._batch_processor


def exporter_preferences(exporter: MetricExporter) -> dict[str, Any]:
    """A metric exporter's temporality and aggregation preferences (no public getter)."""
    return {
        "preferred_temporality": exporter._preferred_temporality,
        "preferred_aggregation": exporter._preferred_aggregation,
    }


def reset_reader_export_lock(reader: PeriodicExportingMetricReader) -> None:
    """After fork: the periodic reader's export lock may have been held by the parent's
    export thread; the SDK restarts the reader's thread in the child but keeps the lock."""
    reader._export_lock = threading.Lock()


def suppressed_context() -> Context:
    """The current context with every instrumentation suppressed, outbound HTTP included:
    ``suppress_instrumentation()`` sets only the first key, and the untraced-path middleware
    needs a context to attach across a whole request, sync or async."""
    return set_value(_SUPPRESS_HTTP_INSTRUMENTATION_KEY, True, set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))


def update_resource(provider: Any, resource: Resource) -> None:
    """Merge ``resource`` into a provider's resource (the SDK's own after-fork path)."""
    provider._update_resource(resource)


#: The reader method that receives the collect callback: the one place a collection can be wrapped.
SET_COLLECT_CALLBACK = "_set_collect_callback"


def _check() -> None:
    probes: list[tuple[str, Callable[[], bool]]] = [
        ("BatchSpanProcessor._batch_processor", lambda: "_batch_processor" in BatchSpanProcessor.__init__.__code__.co_names),
        ("TracerProvider._update_resource", lambda: hasattr(TracerProvider, "_update_resource")),
        ("MetricExporter._preferred_temporality", lambda: "_preferred_temporality" in MetricExporter.__init__.__code__.co_names),
        ("PeriodicExportingMetricReader._export_lock", lambda: "_export_lock" in PeriodicExportingMetricReader.__init__.__code__.co_names),
        ("MetricReader._set_collect_callback", lambda: hasattr(PeriodicExportingMetricReader, SET_COLLECT_CALLBACK)),
    ]
    from opentelemetry.sdk._shared_internal import BatchProcessor

    names = BatchProcessor.__init__.__code__.co_names
    missing = [name for name, probe in probes if not probe()]
    missing += [f"BatchProcessor.{n}" for n in ("_queue", "_max_queue_size", "_shutdown", "_pid", "_exporter") if n not in names]
    if missing:
        from importlib.metadata import version

        raise SdkMismatch(
            f"otel_trainerhub needs SDK internals missing from opentelemetry-sdk {version('opentelemetry-sdk')}: "
            f"{', '.join(missing)} (supported: opentelemetry-sdk 1.45.x)"
        )


_check()
