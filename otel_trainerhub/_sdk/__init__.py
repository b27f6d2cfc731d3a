"""Every private attribute of the OpenTelemetry SDK that otel_trainerhub relies on, in one place.

Each is checked against the installed SDK when this module is imported, so an SDK upgrade
that moves one fails at start-up with a message naming it, not later on a request.
Where a public API does the job it is used instead, and nothing here is needed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from operator import attrgetter, itemgetter
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY, _SUPPRESS_INSTRUMENTATION_KEY, Context, set_value
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk._configuration import _BaseConfigurator as BaseConfigurator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import SpanContext, Status
from opentelemetry.trace.propagation import _SPAN_KEY as SPAN_KEY

__all__ = [
    "SPAN_KEY",
    "BaseConfigurator",
    "SdkMismatch",
    "batch_exporter",
    "batch_refusal",
    "batch_state",
    "current_context_getter",
    "django_request_keys",
    "encode_no_logs",
    "sdk_encode_logs",
    "exporter_preferences",
    "parent_based_delegates",
    "plain_attributes",
    "queued",
    "replace_status",
    "reset_reader_export_lock",
    "set_frozen_attributes",
    "set_own_attributes",
    "set_span_clock",
    "span_attribute_dict",
    "span_attributes",
    "span_event_deque",
    "span_events",
    "span_kind",
    "span_parent",
    "span_status",
    "span_status_description",
    "span_times",
    "context_is_remote",
    "suppressed_context",
    "update_resource",
]


class SdkMismatch(ImportError):
    """The installed OpenTelemetry SDK lacks an internal otel_trainerhub relies on."""


def batch_state(processor: BatchSpanProcessor | BatchLogRecordProcessor) -> Any:
    """The shared batch processor behind the SDK's span and log batch processors: its
    ``_queue`` (a bounded deque), ``_max_queue_size``, ``_shutdown``, ``_pid`` and ``_exporter``."""
    return processor._batch_processor


def batch_refusal(processor: BatchSpanProcessor | BatchLogRecordProcessor) -> str | None:
    """Why the batch processor is about to lose the item it is handed: ``after_shutdown``,
    ``queue_full`` (its deque drops the oldest to make room), or None."""
    batch = processor._batch_processor
    if batch._shutdown:
        return "after_shutdown"
    if len(batch._queue) >= batch._max_queue_size and batch._pid == os.getpid():
        return "queue_full"
    return None


def queued(processor: BatchSpanProcessor | BatchLogRecordProcessor) -> int:
    """How many items the batch processor holds, not yet handed to its exporter."""
    return len(processor._batch_processor._queue)


def batch_exporter(processor: BatchSpanProcessor | BatchLogRecordProcessor) -> Any:
    """The exporter a batch processor was built with."""
    return processor._batch_processor._exporter


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


# -- live spans, in the span processors' hot path (C-level getters: no property call, no copy) --

#: The span's parent SpanContext (``span.parent`` without the property call).
span_parent: Callable[[Span], Any] = attrgetter("_parent")
#: The span's SpanKind.
span_kind: Callable[[Span], Any] = attrgetter("_kind")
#: The span's BoundedAttributes itself: ``span.attributes`` may wrap it read-only, and a value
#: set on it during ``_on_ending`` is the value exported.
span_attributes: Callable[[Span], Any] = attrgetter("_attributes")
#: The plain dict behind the span's BoundedAttributes: reads without the mapping's
#: per-key ``__getitem__``/exception path (``Mapping.__contains__`` costs a try/except per test).
span_attribute_dict: Callable[[Span], dict[str, Any]] = attrgetter("_attributes._dict")


def plain_attributes(attributes: Any) -> Any:
    """The plain dict behind a BoundedAttributes (a span's, an event's, a link's), else the
    mapping itself: iterating the mapping costs a Python-level call per key."""
    return getattr(attributes, "_dict", attributes)


#: The span's own event list (``span.events`` builds a tuple per call).
span_events: Callable[[Span], Any] = attrgetter("_events")
#: (start, end) in nanoseconds, without two property calls; both set once the span is ending.
span_times: Callable[[Span], tuple[int, int]] = attrgetter("_start_time", "_end_time")
#: The span's Status (``span.status`` without the property call).
span_status: Callable[[Span], Any] = attrgetter("_status")
#: ``span.status.description`` without two property calls: read for every span.
span_status_description: Callable[[Span], str | None] = attrgetter("_status._description")
#: The deque behind the span's event list: its truth is a C call (the list's ``__len__`` is not).
span_event_deque: Callable[[Span], Any] = attrgetter("_events._dq")
#: ``SpanContext.is_remote``: the API's SpanContext is a tuple whose third item it reads.
context_is_remote: Callable[[Any], bool] = itemgetter(2)


def replace_status(span: Span, status: Status) -> None:
    """Replace an ended span's status (``set_status`` refuses once the span has ended)."""
    span._status = status


def set_frozen_attributes(attributes: Any, values: Mapping[str, Any]) -> None:
    """Set ``values`` on a span's (or event's) attribute mapping, even once the SDK has frozen it.

    The SDK freezes a span's attributes just before calling ``_on_ending``; the read-only
    span it then builds for export shares the same mapping, so a value set here is the
    value exported. Events may carry a plain dict.
    """
    frozen = getattr(attributes, "_immutable", None)
    if frozen is None:
        attributes.update(values)
        return
    attributes._immutable = False
    try:
        # One validation pass and one lock for all of them, where the SDK has the method.
        set_items = getattr(attributes, "_set_items", None)
        if set_items is not None:
            set_items(values)
        else:
            for key, value in values.items():
                attributes[key] = value
    finally:
        attributes._immutable = frozen


_PRIMITIVE = (bool, int, float)


def set_own_attributes(attributes: Any, values: Mapping[str, Any]) -> None:
    """:func:`set_frozen_attributes` for values of ours that are already valid attribute values
    (str, bool, int, float): the SDK's per-value validation skipped, its length limit (strings
    cut at ``max_value_len``), its count limit and its lock kept. Any other value goes the
    SDK's way. About 25k instructions less per request root (benchmarks/micro.py)."""
    setitem = getattr(attributes, "_setitem_locked", None)
    if setitem is None or attributes.maxlen == 0:
        set_frozen_attributes(attributes, values)
        return
    limit = attributes.max_value_len
    others = None
    with attributes._lock:
        for key, value in values.items():
            kind = type(value)
            if kind is str:
                setitem(key, value if limit is None or len(value) <= limit else value[:limit])
            elif kind in _PRIMITIVE:
                setitem(key, value)
            else:
                others = others or {}
                others[key] = value
    if others:
        set_frozen_attributes(attributes, others)


def current_context_getter() -> Callable[[], Context]:
    """The cheapest way to the current context: the runtime's ContextVar itself (a C call)
    when the default contextvars runtime is in use, else the runtime's own method."""
    runtime = getattr(context_api, "_RUNTIME_CONTEXT", None)
    if isinstance(runtime, ContextVarsRuntimeContext):
        return runtime._current_context.get
    return context_api.get_current


def parent_based_delegates(sampler: ParentBased) -> dict[str, Any]:
    """The five samplers a ParentBased sampler delegates to, as ParentBased's keyword arguments
    (``root`` first); it has no public getter."""
    return {
        "root": sampler._root,
        "remote_parent_sampled": sampler._remote_parent_sampled,
        "remote_parent_not_sampled": sampler._remote_parent_not_sampled,
        "local_parent_sampled": sampler._local_parent_sampled,
        "local_parent_not_sampled": sampler._local_parent_not_sampled,
    }


def django_request_keys() -> tuple[str, str, str]:
    """The ``request.META`` keys under which contrib's Django middleware keeps a request's
    span, its duration-metric attributes and the span's activation (the ``use_span`` context
    manager it entered); checked here, not at import: it imports Django."""
    from opentelemetry.instrumentation.django.middleware.otel_middleware import _DjangoMiddleware

    try:
        return _DjangoMiddleware._environ_span_key, _DjangoMiddleware._environ_duration_attr_key, _DjangoMiddleware._environ_activation_key
    except AttributeError as error:
        raise _mismatch([f"_DjangoMiddleware.{error.name}"], "opentelemetry-instrumentation-django") from None


def set_span_clock(clock: Callable[[], int]) -> tuple[Any, str]:
    """Where the SDK reads the time for span start, end and event timestamps (``time_ns``, a
    global of ``opentelemetry.sdk.trace``): the (module, name) to replace with ``clock``."""
    import opentelemetry.sdk.trace as sdk_trace

    if not callable(getattr(sdk_trace, "time_ns", None)):
        raise _mismatch(["opentelemetry.sdk.trace.time_ns"], "opentelemetry-sdk")
    return sdk_trace, "time_ns"


def sdk_encode_logs(batch: Any) -> Any:
    """The SDK's own OTLP log encoder (published under a private module name)."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    return encode_logs(batch)


def encode_no_logs() -> bytes:
    """An empty OTLP logs request, encoded: the log encoder is published under a private
    module name (the span and metric encoders are not)."""
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

    return encode_logs([]).SerializeToString()  # type: ignore[no-any-return]


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
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk._shared_internal import BatchProcessor
    from opentelemetry.sdk.util import BoundedList

    span_init = Span.__init__.__code__.co_names + ReadableSpan.__init__.__code__.co_names
    missing_in_span = [f"Span.{n}" for n in ("_parent", "_kind", "_attributes", "_events", "_status", "_start_time", "_end_time") if n not in span_init]
    probes += [
        ("BoundedAttributes._dict", lambda: "_dict" in BoundedAttributes.__init__.__code__.co_names),
        ("BoundedAttributes._immutable", lambda: "_immutable" in BoundedAttributes.__init__.__code__.co_names),
        ("BoundedAttributes._setitem_locked", lambda: hasattr(BoundedAttributes, "_setitem_locked")),
        ("BoundedAttributes._lock, max_value_len, maxlen",
         lambda: {"_lock", "max_value_len", "maxlen"} <= set(BoundedAttributes.__init__.__code__.co_names)),
        ("SpanProcessor._on_ending", lambda: hasattr(SpanProcessor, "_on_ending")),
        ("ContextVarsRuntimeContext._current_context", lambda: "_current_context" in ContextVarsRuntimeContext.__init__.__code__.co_names),
        ("ParentBased._root", lambda: "_root" in ParentBased.__init__.__code__.co_names),
        ("Status._description", lambda: "_description" in Status.__init__.__code__.co_names),
        ("BoundedList._dq", lambda: "_dq" in BoundedList.__init__.__code__.co_names),
        ("SpanContext[2] is is_remote", lambda: context_is_remote(SpanContext(1, 1, is_remote=True)) is True),
    ]

    names = BatchProcessor.__init__.__code__.co_names
    missing = [name for name, probe in probes if not probe()] + missing_in_span
    missing += [f"BatchProcessor.{n}" for n in ("_queue", "_max_queue_size", "_shutdown", "_pid", "_exporter") if n not in names]
    if missing:
        raise _mismatch(missing, "opentelemetry-sdk")


def _mismatch(missing: list[str], distribution: str) -> SdkMismatch:
    from importlib.metadata import version

    return SdkMismatch(
        f"otel_trainerhub needs internals missing from {distribution} {version(distribution)}: "
        f"{', '.join(missing)} (supported: opentelemetry-sdk 1.45.x, contrib 0.66bN)"
    )


_check()
