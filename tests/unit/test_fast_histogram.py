"""_sdk.FastHistogram records exactly what the SDK's Histogram.record does, whatever the readers,
views, temporality and exemplar settings; where its shortcut cannot serve, the SDK's path does."""

from __future__ import annotations

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, Histogram, MeterProvider, TraceBasedExemplarFilter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import View
from opentelemetry.sdk.trace import TracerProvider

from otel_trainerhub._sdk.metrics import FastHistogram

VALUES = [0.0, 0.002, 0.002, 0.3, 7.5, 12.0, -1.0, float("nan"), float("inf")]  # the last three refused, as by the SDK
ROUTES = [{"kind": "request", "route": "GET api/ping/"}, {"kind": "task", "route": "run/send"}, {"kind": "request", "route": "GET api/ping/"}]


def _points(reader: InMemoryMetricReader) -> list[tuple]:
    data = reader.get_metrics_data()
    return sorted(
        (tuple(sorted(p.attributes.items())), p.count, p.sum, tuple(p.bucket_counts), p.min, p.max, len(p.exemplars))
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics for p in m.data.data_points
    ) if data else []


def _record_both(fast: bool, **provider_options) -> list[list[tuple]]:
    readers = [InMemoryMetricReader(), InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})]
    provider = MeterProvider(metric_readers=readers, **provider_options)
    histogram = provider.get_meter("case").create_histogram("case.db", explicit_bucket_boundaries_advisory=[0.001, 0.01, 0.1, 1, 10])
    recorder = FastHistogram(histogram) if fast else histogram
    collected = []
    with TracerProvider().get_tracer("case").start_as_current_span("sampled"):
        for _ in range(2):  # two collections: the delta reader's second starts from nothing
            for value in VALUES:
                for attributes in ROUTES:
                    recorder.record(value, attributes)
            collected.append([_points(r) for r in readers])
    return collected


@pytest.mark.parametrize(
    "options",
    [
        {"exemplar_filter": AlwaysOffExemplarFilter()},
        {"exemplar_filter": TraceBasedExemplarFilter()},  # exemplars: the SDK's path every time
        {"exemplar_filter": AlwaysOffExemplarFilter(), "views": [View(instrument_name="case.db", attribute_keys={"route"})]},
    ],
    ids=["exemplars off", "exemplars on", "a view that filters attributes"],
)
def test_the_same_points_as_the_sdks_record(options) -> None:
    expected = _record_both(False, **options)
    assert _record_both(True, **options) == expected
    assert expected[0][0] and expected[1][1]  # both readers saw data, both times


def test_the_shortcut_is_taken_once_a_set_has_its_aggregation() -> None:
    provider = MeterProvider(metric_readers=[InMemoryMetricReader()], exemplar_filter=AlwaysOffExemplarFilter())
    fast = FastHistogram(provider.get_meter("case").create_histogram("case.db"))
    fast.record(1.0, ROUTES[0])
    assert len(fast._bound) == 1  # noqa: SLF001 (what the test is about)


def test_a_no_op_meters_histogram_is_recorded_to_as_is() -> None:
    calls = []
    histogram = NoOpMeterProvider().get_meter("case").create_histogram("case.db")
    histogram.record = lambda value, attributes: calls.append((value, attributes))  # type: ignore[method-assign]
    FastHistogram(histogram).record(1.0, ROUTES[0])
    assert calls == [(1.0, ROUTES[0])]
