"""What the span and log pipelines share: a per-process exporter that counts every outcome,
and batch processors that count what they must drop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otel_trainerhub import _sdk
from otel_trainerhub.export.accounting import STATS
from otel_trainerhub.export.fork import ProcessLocal
from otel_trainerhub.export.ledger import InFlight

__all__ = ["CountingExporter", "DropCountingBatchLogRecordProcessor", "DropCountingBatchSpanProcessor"]


class CountingExporter:
    """Builds its real exporter in each process that exports (never across fork); counts
    each batch delivered or dropped, writes the outcome to the tree's collector health, and
    knows what is in flight. One class for spans and log records (same export contract)."""

    def __init__(self, factory: Callable[[], Any], *, name: str, signal: str, success: Any, collector: bool = True) -> None:
        self._exporter = ProcessLocal(factory)
        self._collector = collector  # its outcomes say how the collector is
        self._name = name
        self._signal = signal
        self._success = success
        self._flight = InFlight()
        self.abandoned = False  # shutdown counted what is in flight: its late outcome is not counted again

    def export(self, batch: Sequence[Any]) -> Any:
        ledger = STATS.ledger if self._collector else None
        self._flight.begin(len(batch), ledger)
        try:
            result = self._exporter.get().export(batch)
        except Exception as exc:  # an exporter bug must not kill the export thread
            result, detail = None, f"{self._name}: {exc!r}"
        else:
            detail = f"{self._name} did not accept the batch"
        delivered = result is self._success
        self._flight.end(None if self.abandoned else delivered, ledger)
        if self.abandoned:
            return result if result is not None else type(self._success).FAILURE
        if delivered:
            if self._signal == "spans":
                STATS.record_exported(len(batch))
            return result
        STATS.record_dropped(len(batch), "export_failed", detail, signal=self._signal)
        return type(self._success).FAILURE

    @property
    def in_flight(self) -> int:
        """Items this process handed to export() that have not come back yet."""
        return self._flight.items

    def stuck(self) -> bool:
        return self._flight.stuck()

    def shutdown(self) -> None:
        inner = self._exporter.mine()
        if inner is not None:
            inner.shutdown()  # also ends a retry back-off in progress

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _count_drop(processor: Any, signal: str) -> None:
    reason = _sdk.batch_refusal(processor)
    if reason is not None:
        STATS.record_dropped(1, reason, signal=signal)


class _Undelivered:
    """What a batch processor still holds, for shutdown's accounting."""

    def abandon(self) -> int:
        """At shutdown: how many items are still queued or being exported; an export still in
        flight then is counted here, not again when it ends."""
        exporter = _sdk.batch_exporter(self)  # type: ignore[arg-type]
        if isinstance(exporter, CountingExporter):
            exporter.abandoned = True
            return _sdk.queued(self) + exporter.in_flight  # type: ignore[arg-type]
        return _sdk.queued(self)  # type: ignore[arg-type]

    def stuck(self) -> bool:
        exporter = _sdk.batch_exporter(self)  # type: ignore[arg-type]
        return isinstance(exporter, CountingExporter) and exporter.stuck()


class DropCountingBatchSpanProcessor(_Undelivered, BatchSpanProcessor):
    """The SDK's batch processor, with every span it has to drop counted."""

    def on_end(self, span: ReadableSpan) -> None:
        if not (span.context and span.context.trace_flags.sampled):
            return
        _count_drop(self, "spans")
        _sdk.batch_state(self).emit(span)


class DropCountingBatchLogRecordProcessor(_Undelivered, BatchLogRecordProcessor):
    """The SDK's batch log processor, with every record it has to drop counted."""

    def on_emit(self, log_record: Any) -> None:
        _count_drop(self, "logs")
        super().on_emit(log_record)


SPAN_SUCCESS, LOG_SUCCESS = SpanExportResult.SUCCESS, LogRecordExportResult.SUCCESS
