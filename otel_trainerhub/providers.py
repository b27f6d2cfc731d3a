"""Tracer and meter providers, exporters, drop accounting and the fork start-up path.

The whole fork story lives here (STYLE §6):

* Providers are built once, in whichever process imports ``otel_trainerhub.auto``
  first: the gunicorn master under ``--preload``, the Celery worker's main process.
* Exporters are created lazily *per process* (:class:`PerProcessExporter`), so a
  gRPC channel or HTTP session is never shared across ``fork()``; the SDK's batch
  processor and periodic metric reader restart their threads in the child on their own.
* ``after_in_child`` stamps the child's own ``process.pid`` onto the shared resource.
* Children flush with a bounded wait when they exit: ``atexit`` for gunicorn workers,
  Celery's ``worker_process_shutdown`` for prefork children (which leave by ``os._exit``).

Telemetry failures never reach the request path: ``on_end`` only appends to a bounded
queue; export happens on the processor's thread; whatever cannot be delivered is
counted in :data:`STATS` and reported by a rate-limited warning and a metric.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Generic, TypeVar

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from otel_trainerhub.processors import AttributionProcessor, EnrichingSpanProcessor, RedactionProcessor, record_every
from otel_trainerhub.settings import Settings

__all__ = ["STATS", "TelemetryStats", "Providers", "build_providers"]

_log = logging.getLogger("otel_trainerhub.export")
T = TypeVar("T")

SHUTDOWN_TIMEOUT_S = 5.0
_WARN_INTERVAL_S = 10.0


class TelemetryStats:
    """Process-local counts of spans exported, and of spans and log records dropped, by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0
        self.dropped: dict[str, Counter[str]] = {"spans": Counter(), "logs": Counter()}
        self._unreported: Counter[tuple[str, str]] = Counter()
        self._last_warning = 0.0

    def record_exported(self, count: int) -> None:
        with self._lock:
            self.exported += count

    def record_dropped(self, count: int, reason: str, detail: str = "", *, signal: str = "spans") -> None:
        with self._lock:
            self.dropped[signal][reason] += count
            self._unreported[(signal, reason)] += count
            now = time.monotonic()
            if now - self._last_warning < _WARN_INTERVAL_S:
                return
            self._last_warning = now
            batch, self._unreported = self._unreported, Counter()
            total = sum(self.dropped["spans"].values())
        summary = ", ".join(f"{n} {'log records' if s == 'logs' else 'spans'} {r}" for (s, r), n in sorted(batch.items()))
        _log.warning(
            "otel_trainerhub dropped telemetry: %s (%d spans dropped in this process since start)%s",
            summary,
            total,
            f"; last error: {detail}" if detail else "",
        )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": os.getpid(),
                "spans_exported": self.exported,
                "spans_dropped": dict(self.dropped["spans"]),
                "logs_dropped": dict(self.dropped["logs"]),
            }

    def reset(self) -> None:
        with self._lock:
            self.exported = 0
            for counter in self.dropped.values():
                counter.clear()
            self._unreported.clear()


STATS = TelemetryStats()
_at_fork_registered = False


def _reset_stats_in_child() -> None:
    STATS._lock = threading.Lock()  # the parent's export thread may have held it at fork
    STATS.reset()


# The fork gate. Background threads of a forking parent (the gunicorn master, Celery's main
# process) collect metrics and export spans, logs and metrics. A fork in the middle of that
# hands the child locks held by a thread that does not exist there: SDK aggregation locks,
# and (seen in CI as a prefork child that never ran its task) per-module import locks taken
# by an export importing its way through requests, protobuf or the idna codec. Every
# collection and every export runs under a gate, and fork() waits for all of them: for an
# export in flight, at most the exporter's timeout. One gate per exporter, so that the
# signals' exports never wait for each other.
_fork_gates: list[threading.Lock] = []


def new_fork_gate() -> int:
    """Register a gate; hold ``fork_gate(index)`` around that exporter's I/O."""
    _fork_gates.append(threading.Lock())
    return len(_fork_gates) - 1


def fork_gate(index: int) -> threading.Lock:
    """The gate ``index`` of this process (a forked child gets fresh ones)."""
    return _fork_gates[index]


def _gate_before_fork() -> None:
    for gate in list(_fork_gates):
        gate.acquire()


def _gate_after_fork_in_parent() -> None:
    for gate in reversed(list(_fork_gates)):
        gate.release()


def _gate_after_fork_in_child() -> None:
    _fork_gates[:] = [threading.Lock() for _ in _fork_gates]


class ProcessLocal(Generic[T]):
    """One instance per process of what ``factory`` builds, created on first use in each
    process (never shared across fork), and the fork gate to hold around its I/O."""

    def __init__(self, factory: Callable[[], T], instance: T | None = None) -> None:
        self._factory = factory
        self._inner = instance
        self._pid = os.getpid() if instance is not None else -1
        self.gate = new_fork_gate()

    def get(self) -> T:
        # No lock: each holder is used by one export thread at a time (the batch processor
        # serialises exports), and a lock of ours could be inherited held across fork.
        pid = os.getpid()
        if self._inner is None or self._pid != pid:
            self._inner, self._pid = self._factory(), pid
        return self._inner

    def mine(self) -> T | None:
        """This process's instance, if it made one."""
        return self._inner if self._pid == os.getpid() else None


class PerProcessExporter(SpanExporter):
    """Builds its real exporter in the process that first exports, again after each fork.

    Results are counted: a batch the exporter refused or failed on is a drop.
    """

    def __init__(self, factory: Callable[[], SpanExporter], *, name: str) -> None:
        self._exporter = ProcessLocal(factory)
        self._name = name
        self.in_flight = 0  # spans handed to export() that have not come back yet

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.in_flight += len(spans)
        try:
            with fork_gate(self._exporter.gate):
                result = self._exporter.get().export(spans)
        except Exception as exc:  # an exporter bug must not kill the export thread
            STATS.record_dropped(len(spans), "export_failed", f"{self._name}: {exc!r}")
            return SpanExportResult.FAILURE
        finally:
            self.in_flight -= len(spans)
        if result is SpanExportResult.SUCCESS:
            STATS.record_exported(len(spans))
        else:
            STATS.record_dropped(len(spans), "export_failed", f"{self._name} did not accept the batch")
        return result

    def shutdown(self) -> None:
        inner = self._exporter.mine()
        if inner is not None:
            inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class PerProcessMetricExporter(MetricExporter):
    """The metric twin of :class:`PerProcessExporter`: one real exporter per process."""

    def __init__(self, factory: Callable[[], MetricExporter]) -> None:
        probe = factory()  # temporality and aggregation preferences come from the real exporter
        super().__init__(
            preferred_temporality=probe._preferred_temporality,
            preferred_aggregation=probe._preferred_aggregation,
        )
        self._exporter = ProcessLocal(factory, probe)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        with fork_gate(self._exporter.gate):
            return self._exporter.get().export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        inner = self._exporter.mine()
        return inner.force_flush(timeout_millis) if inner is not None else True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        inner = self._exporter.mine()
        if inner is not None:
            inner.shutdown(timeout_millis=timeout_millis)


class ForkSafeMetricReader(PeriodicExportingMetricReader):
    """The SDK's periodic reader, its collections gated against fork()."""

    # The SDK marks this final and internal; it is the one place a collection can be gated.
    def _set_collect_callback(self, func: Callable[..., Any] | None) -> None:  # type: ignore[misc]
        if func is None:
            super()._set_collect_callback(None)
            return

        gate = new_fork_gate()

        def gated(reader: Any, timeout_millis: float = 10_000) -> Any:
            with fork_gate(gate):
                return func(reader, timeout_millis=timeout_millis)

        super()._set_collect_callback(gated)


class DropCountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, with every span it has to drop counted in :data:`STATS`."""

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        batch = self._batch_processor
        if batch._shutdown:
            STATS.record_dropped(1, "after_shutdown")
            return
        if len(batch._queue) >= batch._max_queue_size and batch._pid == os.getpid():
            # The deque drops its oldest span to make room for this one.
            STATS.record_dropped(1, "queue_full")
        batch.emit(span)

    def undelivered(self) -> int:
        """Spans still queued or being exported right now."""
        exporter = self._batch_processor._exporter
        return len(self._batch_processor._queue) + getattr(exporter, "in_flight", 0)


class JsonLinesSpanExporter(SpanExporter):
    """Appends each span as one JSON line to a file (the demo's local sink)."""

    def __init__(self, path: str) -> None:
        self._path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(span.to_json(indent=None) + "\n" for span in spans).encode()
        # One O_APPEND write per batch: processes sharing the file never interleave lines.
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def build_resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = dict(settings.resource_attributes)
    attributes.update(
        {
            "service.name": settings.service_name,
            "deployment.environment.name": settings.environment,
            "process.pid": os.getpid(),
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": platform.python_version(),
        }
    )
    if settings.release_version:
        attributes["service.version"] = settings.release_version
    # Resource.create would read OTEL_RESOURCE_ATTRIBUTES again; settings already did, validated.
    return Resource({**Resource.create({}).attributes, **attributes})


# What a forked child re-stamps (tracer, meter and log providers), and the instance id the
# user named (OTEL_RESOURCE_ATTRIBUTES=service.instance.id=...), if any.
_stamped_in_children: list[Any] = []
_user_instance_id: str | None = None
_stamp_hook_registered = False


def stamp_in_children(*providers: Any) -> None:
    """Give each forked child's telemetry (all three signals alike) its own ``process.pid``."""
    global _stamp_hook_registered
    _stamped_in_children.extend(providers)
    if not _stamp_hook_registered:
        _stamp_hook_registered = True
        os.register_at_fork(after_in_child=lambda: _stamp_pid(*_stamped_in_children))


def _stamp_pid(*providers: Any) -> None:
    # The SDK's own after-fork hooks re-run only the process-dependent resource detectors:
    # a new service.instance.id per process (so two workers' cumulative metrics never share
    # a Prometheus series), but not our process.pid (the process detector would also
    # publish the command line, where secrets hide); so we merge the child's pid after the
    # SDK's hooks, and put back an instance id the user set, which the SDK overwrites.
    stamp: dict[str, Any] = {"process.pid": os.getpid()}
    if _user_instance_id is not None:
        stamp["service.instance.id"] = _user_instance_id
    for provider in providers:
        provider._update_resource(Resource(stamp))


def build_sampler(settings: Settings) -> sdk_sampling.Sampler:
    ratio = sdk_sampling.TraceIdRatioBased(settings.sampler_arg)
    return {
        "always_on": sdk_sampling.ALWAYS_ON,
        "always_off": sdk_sampling.ALWAYS_OFF,
        "traceidratio": ratio,
        "parentbased_always_on": sdk_sampling.ParentBased(sdk_sampling.ALWAYS_ON),
        "parentbased_always_off": sdk_sampling.ParentBased(sdk_sampling.ALWAYS_OFF),
        "parentbased_traceidratio": sdk_sampling.ParentBased(ratio),
    }[settings.sampler]


def _otlp_span_exporter(settings: Settings) -> SpanExporter:
    endpoint = settings.exporter_endpoint
    assert endpoint is not None
    headers = dict(settings.exporter_headers) or None
    if settings.exporter_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter(
            endpoint=endpoint,
            insecure=endpoint.startswith("http://"),
            headers=headers,
            timeout=settings.exporter_timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers, timeout=settings.exporter_timeout)


def _otlp_metric_exporter(settings: Settings) -> MetricExporter:
    endpoint = settings.exporter_endpoint
    assert endpoint is not None
    headers = dict(settings.exporter_headers) or None
    if settings.exporter_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(
            endpoint=endpoint,
            insecure=endpoint.startswith("http://"),
            headers=headers,
            timeout=settings.exporter_timeout,
        )
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers, timeout=settings.exporter_timeout)


def _span_exporters(settings: Settings) -> Iterable[SpanExporter]:
    if settings.traces_exporter == "otlp" and settings.exporter_endpoint:
        yield PerProcessExporter(lambda: _otlp_span_exporter(settings), name=f"OTLP {settings.exporter_protocol}")
    elif settings.traces_exporter == "console":
        yield PerProcessExporter(ConsoleSpanExporter, name="console")
    if settings.span_file:
        path = settings.span_file
        yield PerProcessExporter(lambda: JsonLinesSpanExporter(path), name=f"file {path}")


# Every reason is reported from the start, at 0: an alert on drops then watches a series
# that exists before the first drop (and a dashboard shows "0", not "no data").
DROP_REASONS: Final = ("queue_full", "export_failed", "shutdown_timeout", "after_shutdown")


def _observe_dropped(signal: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        dropped = STATS.snapshot()[f"{signal}_dropped"]
        for reason in dict.fromkeys((*DROP_REASONS, *dropped)):
            yield Observation(dropped.get(reason, 0), {"reason": reason})

    return observe


def _observe_exported(_options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(STATS.snapshot()["spans_exported"])


class Providers:
    """The providers of this process and their bounded flush and shutdown."""

    def __init__(
        self,
        tracer_provider: TracerProvider,
        meter_provider: MeterProvider,
        batch_processors: list[DropCountingBatchSpanProcessor],
        metric_readers: list[ForkSafeMetricReader],
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.batch_processors = batch_processors
        self.metric_readers = metric_readers
        self.log_provider: Any = None  # set when logs are exported over OTLP (logs/otlp.py)
        self._shut_down = False

    def flush(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Export what is queued, waiting at most ``timeout`` seconds in all (a prefork child
        flushes this way on its way out)."""
        left = _time_left(timeout)
        done = _run_bounded(self.tracer_provider.force_flush, left())
        done = _run_bounded(self.meter_provider.force_flush, left()) and done
        if self.log_provider is not None:
            done = _run_bounded(self.log_provider.force_flush, left()) and done
        return done

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Flush and stop, all of it within ``timeout`` seconds (servers give workers little time to exit)."""
        if self._shut_down:
            return
        self._shut_down = True
        left = _time_left(timeout)
        _run_bounded(self.tracer_provider.force_flush, left())
        _run_bounded(self.tracer_provider.shutdown, left())
        undelivered = sum(p.undelivered() for p in self.batch_processors)
        if undelivered:
            STATS.record_dropped(undelivered, "shutdown_timeout", f"{undelivered} spans undelivered after {timeout:g}s")
        summary = STATS.snapshot()
        if summary["spans_dropped"] or summary["logs_dropped"]:
            _log.warning(
                "otel_trainerhub: process %d exported %d spans and dropped %d (%s); dropped %d log records (%s)",
                summary["pid"],
                summary["spans_exported"],
                sum(summary["spans_dropped"].values()),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(summary["spans_dropped"].items())),
                sum(summary["logs_dropped"].values()),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(summary["logs_dropped"].items())),
            )
        if self.log_provider is not None:
            _run_bounded(self.log_provider.force_flush, left())
            _run_bounded(self.log_provider.shutdown, left())
        _run_bounded(lambda: self.meter_provider.shutdown(timeout_millis=left() * 1000), left())


def _time_left(timeout: float) -> Callable[[], float]:
    """Seconds left of a ``timeout`` budget that starts now (a sliver at least, never negative)."""
    deadline = time.monotonic() + timeout
    return lambda: max(0.05, deadline - time.monotonic())


def _run_bounded(fn: Callable[[], Any], timeout: float) -> bool:
    """Run ``fn`` on a daemon thread and wait at most ``timeout`` seconds for it."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(fn())
        except Exception:
            _log.warning("otel_trainerhub: %s failed", getattr(fn, "__name__", fn), exc_info=True)
            result.append(False)

    thread = threading.Thread(target=target, name="otel-trainerhub-flush", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0] is not False)


def _warm_up_export_path() -> None:
    # Imports done here, on the main thread before any fork, are never half-done in a child.
    "localhost".encode("idna")
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    encode_spans([]).SerializeToString()
    encode_logs([]).SerializeToString()


def build_providers(settings: Settings) -> Providers:
    global _at_fork_registered, _user_instance_id
    resource = build_resource(settings)
    _warm_up_export_path()

    readers: list[ForkSafeMetricReader] = []
    if settings.exporter_endpoint and settings.traces_exporter == "otlp":
        readers.append(
            ForkSafeMetricReader(
                PerProcessMetricExporter(lambda: _otlp_metric_exporter(settings)),
                export_interval_millis=settings.metric_export_interval_ms,
            )
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    meter = meter_provider.get_meter("otel_trainerhub")
    meter.create_observable_counter(
        "trainerhub.telemetry.spans.dropped",
        callbacks=[_observe_dropped("spans")],
        unit="{span}",
        description="Spans this process created but could not deliver, by reason",
    )
    meter.create_observable_counter(
        "trainerhub.telemetry.logs.dropped",
        callbacks=[_observe_dropped("logs")],
        unit="{log_record}",
        description="Log records this process could not deliver over OTLP, by reason",
    )
    meter.create_observable_counter(
        "trainerhub.telemetry.spans.exported",
        callbacks=[_observe_exported],
        unit="{span}",
        description="Spans this process handed to its exporter successfully",
    )

    sampler = build_sampler(settings)
    attribution = None
    if settings.performance_monitoring_enabled:
        # Attribution, findings and their metrics cover every request, sampled or not.
        sampler = record_every(sampler)
        attribution = AttributionProcessor(
            meter_provider,
            slow_threshold_s=settings.slow_request_threshold,
            slow_route_thresholds_s=settings.slow_route_thresholds,
            n_plus_one_threshold=settings.n_plus_one_threshold,
        )
    tracer_provider = TracerProvider(
        resource=resource,
        sampler=sampler,
        shutdown_on_exit=False,  # ours is bounded: see Providers.shutdown
        # Redaction and attribution run inline, before the exporting processors added below.
        active_span_processor=EnrichingSpanProcessor(RedactionProcessor(), attribution),
    )
    processors = [
        DropCountingBatchSpanProcessor(
            exporter,
            max_queue_size=settings.bsp_max_queue_size,
            schedule_delay_millis=settings.bsp_schedule_delay_ms,
            max_export_batch_size=settings.bsp_max_export_batch_size,
        )
        for exporter in _span_exporters(settings)
    ]
    for processor in processors:
        tracer_provider.add_span_processor(processor)

    if not _at_fork_registered:
        _at_fork_registered = True
        os.register_at_fork(after_in_child=_reset_stats_in_child)
        os.register_at_fork(
            before=_gate_before_fork,
            after_in_parent=_gate_after_fork_in_parent,
            after_in_child=_gate_after_fork_in_child,
        )
    _stamped_in_children.clear()  # a configure() after shutdown() stamps its own providers only
    _user_instance_id = settings.resource_attributes.get("service.instance.id")
    stamp_in_children(tracer_provider, meter_provider)
    return Providers(tracer_provider, meter_provider, processors, readers)


def install_global(providers: Providers) -> None:
    trace.set_tracer_provider(providers.tracer_provider)
    metrics.set_meter_provider(providers.meter_provider)
    atexit.register(providers.shutdown)
