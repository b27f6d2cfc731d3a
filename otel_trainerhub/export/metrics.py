"""The metric pipeline: a meter provider with a periodic OTLP reader whose collections are
gated against fork (and whose network I/O is not), and the telemetry self-metrics."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, AlwaysOnExemplarFilter, ExemplarFilter, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricReader, MetricsData, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from otel_trainerhub import _sdk
from otel_trainerhub.export.accounting import STATS, observe_drops
from otel_trainerhub.export.ledger import InFlight
from otel_trainerhub.export.fork import COLLECTION_GATE, ProcessLocal
from otel_trainerhub.export.otlp import otlp_exporter
from otel_trainerhub.settings import Settings

__all__ = ["ForkSafeMetricReader", "PerProcessMetricExporter", "build_meter_provider"]


class PerProcessMetricExporter(MetricExporter):
    """One real metric exporter per process; each outcome goes to the tree's collector health,
    and a delivered export marks the drop counts it carried as reported."""

    def __init__(self, factory: Callable[[], MetricExporter]) -> None:
        probe = factory()  # temporality and aggregation preferences come from the real exporter
        super().__init__(**_sdk.exporter_preferences(probe))
        self._exporter = ProcessLocal(factory, probe)
        self._flight = InFlight()

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        self._flight.begin(1, STATS.ledger)
        result = MetricExportResult.FAILURE
        try:
            result = self._exporter.get().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        finally:
            self._flight.end(result is MetricExportResult.SUCCESS, STATS.ledger)
        if result is MetricExportResult.SUCCESS:
            STATS.mark_delivered()
        return result

    def stuck(self) -> bool:
        return self._flight.stuck()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        inner = self._exporter.mine()
        return inner.force_flush(timeout_millis) if inner is not None else True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        inner = self._exporter.mine()
        if inner is not None:
            inner.shutdown(timeout_millis=timeout_millis)


class ForkSafeMetricReader(PeriodicExportingMetricReader):
    """The SDK's periodic reader: collections under the fork gate, a fresh export lock in each child."""

    def __init__(self, exporter: PerProcessMetricExporter, **options: Any) -> None:
        super().__init__(exporter, **options)
        self.per_process_exporter = exporter
        reset = weakref.WeakMethod(self._reset_in_child)
        os.register_at_fork(after_in_child=lambda: (m := reset()) and m())

    def _reset_in_child(self) -> None:
        _sdk.reset_reader_export_lock(self)

    def _set_collect_callback(self, func: Callable[..., Any] | None) -> None:  # type: ignore[misc]
        # The SDK marks this final and internal; it is the one place a collection can be gated.
        if func is None:
            getattr(super(), _sdk.SET_COLLECT_CALLBACK)(None)
            return

        def gated(reader: Any, timeout_millis: float = 10_000) -> Any:
            with COLLECTION_GATE:
                return func(reader, timeout_millis=timeout_millis)

        getattr(super(), _sdk.SET_COLLECT_CALLBACK)(gated)


def build_meter_provider(
    settings: Settings, resource: Resource, extra_readers: Sequence[MetricReader] = ()
) -> tuple[MeterProvider, list[ForkSafeMetricReader]]:
    readers: list[ForkSafeMetricReader] = []
    target = settings.otlp_target("metrics")
    if target is not None:
        readers.append(
            ForkSafeMetricReader(
                PerProcessMetricExporter(lambda: otlp_exporter(target)),
                export_interval_millis=settings.metric_export_interval_ms,
            )
        )
    exemplars: dict[str, ExemplarFilter] = {
        "always_off": AlwaysOffExemplarFilter(), "trace_based": TraceBasedExemplarFilter(), "always_on": AlwaysOnExemplarFilter()
    }
    provider = MeterProvider(resource=resource, metric_readers=[*readers, *extra_readers], shutdown_on_exit=False,
                             exemplar_filter=exemplars[settings.metrics_exemplar_filter])
    observe_drops(provider.get_meter("otel_trainerhub"))
    return provider, readers
