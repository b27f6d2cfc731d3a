"""The SDK's metric internals behind FastHistogram, checked against the installed SDK at import."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram
from opentelemetry.sdk.metrics._internal import _view_instrument_match, aggregation, instrument, measurement_consumer
from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage

_INF = math.inf


class _Value:
    """What an aggregation reads from a measurement when no exemplar is offered: its value."""

    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


class FastHistogram:
    """``histogram.record(value, attributes)`` for a caller that records few attribute sets
    again and again (our per-root histograms, by route): the first record of a set takes the
    SDK's own path, which creates its aggregation in every reader; later ones go straight to
    those aggregations, skipping the SDK's per-record attribute cleaning and hashing (about
    three quarters of a record's cost). Whatever the shortcut cannot serve exactly (exemplars
    sampled, a view that filters attributes, a reader added since, a value the SDK would
    refuse, the instrument disabled) takes the SDK's path every time."""

    _MAX_BOUND = 2048

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram
        self._bound: dict[tuple[tuple[str, Any], ...], tuple[Any, list[Any]]] = {}
        self._sdk = isinstance(histogram, Histogram)  # not a no-op meter's, nor a proxy's

    def record(self, value: float, attributes: Mapping[str, Any]) -> None:
        if not self._sdk:
            self._histogram.record(value, attributes)
            return
        key = tuple(attributes.items())
        bound = self._bound.get(key)
        histogram = self._histogram
        if (bound is not None and 0 <= value < _INF and bound[0] is histogram._measurement_consumer._reader_storages
                and histogram._is_enabled()):
            measurement = _Value(value)
            for aggregation in bound[1]:
                aggregation.aggregate(measurement, False)
            return
        histogram.record(value, attributes)
        found = self._aggregations(attributes)
        if found is not None:
            if len(self._bound) >= self._MAX_BOUND:
                self._bound.clear()
            self._bound[key] = found

    def _aggregations(self, attributes: Mapping[str, Any]) -> tuple[Any, list[Any]] | None:
        consumer = self._histogram._measurement_consumer
        if not isinstance(consumer._sdk_config.exemplar_filter, AlwaysOffExemplarFilter):
            return None
        storages = consumer._reader_storages
        key = _hash_attributes(dict(attributes))
        found = []
        for storage in storages.values():
            for match in storage._get_or_init_view_instrument_match(self._histogram):
                aggregation = match._attributes_aggregation.get(key)
                if match._view._attribute_keys is not None or aggregation is None:
                    return None
                found.append(aggregation)
        return storages, found



def _check() -> None:
    from otel_trainerhub._sdk import _mismatch

    probes: list[tuple[str, Callable[[], bool]]] = [
        ("Histogram._measurement_consumer", lambda: "_measurement_consumer" in instrument._Synchronous.__init__.__code__.co_names),
        ("Histogram._is_enabled", lambda: hasattr(instrument.Histogram, "_is_enabled")),
        ("SynchronousMeasurementConsumer._reader_storages",
         lambda: "_reader_storages" in measurement_consumer.SynchronousMeasurementConsumer.__init__.__code__.co_names),
        ("SynchronousMeasurementConsumer._sdk_config",
         lambda: "_sdk_config" in measurement_consumer.SynchronousMeasurementConsumer.__init__.__code__.co_names),
        ("MetricReaderStorage._get_or_init_view_instrument_match", lambda: hasattr(MetricReaderStorage, "_get_or_init_view_instrument_match")),
        ("_ViewInstrumentMatch._attributes_aggregation",
         lambda: "_attributes_aggregation" in _view_instrument_match._ViewInstrumentMatch.__init__.__code__.co_names),
        ("_hash_attributes", lambda: hasattr(_view_instrument_match, "_hash_attributes")),
        ("_ExplicitBucketHistogramAggregation.aggregate(measurement.value)",
         lambda: "value" in aggregation._ExplicitBucketHistogramAggregation.aggregate.__code__.co_names),
    ]
    missing = [name for name, probe in probes if not probe()]
    if missing:
        raise _mismatch(missing, "opentelemetry-sdk")


_check()
