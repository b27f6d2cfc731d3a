"""Our OTLP span encoding parses to the very message the SDK's encoder builds."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from otel_trainerhub.export.encoding import encode_spans


def _spans(resource: Resource) -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=resource, span_limits=SpanLimits(max_attributes=12, max_events=2, max_links=1, max_event_attributes=2))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = provider.get_tracer("opentelemetry.instrumentation.django", "0.66b1", schema_url="https://opentelemetry.io/schemas/1.11.0")
    bare = provider.get_tracer("")
    remote = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("vendor", "ab"), ("x", "1")]))
    with server.start_as_current_span(
        "GET api/bookings/<int:booking_id>/", context=trace.set_span_in_context(NonRecordingSpan(remote)), kind=SpanKind.SERVER,
        attributes={"http.method": "GET", "net.host.port": 8000, "big": 2**62, "negative": -3, "ratio": 0.0, "pi": 3.25,
                    "flag": True, "off": False, "names": ("a", "é"), "codes": (1, -2), "empty": "", "ünï": "ç☃"},
        links=[Link(remote), Link(remote, {"link.why": "retry"})],
    ) as span:
        span.add_event("")
        span.add_event("second")
        span.add_event("exception", {"exception.type": "ValueError", "exception.message": "bad", "extra": 1})
        span.set_attribute("over.the.limit", 1)
        span.set_status(Status(StatusCode.ERROR, "ValueError: bad"))
        with bare.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.statement": "SELECT 1 FROM t WHERE x = %s"}):
            pass
        with server.start_as_current_span("ok") as child:
            child.set_status(Status(StatusCode.OK))
    return list(exporter.get_finished_spans())


def test_the_message_is_the_sdks_field_for_field() -> None:
    spans = _spans(Resource.create({"service.name": "trainerhub", "n": 3}))
    spans += _spans(Resource({"service.name": "other"}, schema_url="https://example.com/s"))
    expected = sdk_encode_spans(spans)
    for _ in range(2):  # the second time from the cache of encoded pairs
        ours = ExportTraceServiceRequest.FromString(encode_spans(spans).SerializeToString())
        assert ours == expected
    # The message holds what the test means it to: every field kind the SDK writes.
    server = next(s for r in expected.resource_spans for ss in r.scope_spans for s in ss.spans if s.kind == 2)
    assert len(expected.resource_spans) == 2 and len({ss.scope.name for ss in expected.resource_spans[0].scope_spans}) == 2
    assert server.dropped_attributes_count and server.dropped_events_count and server.dropped_links_count
    assert server.events[-1].dropped_attributes_count and server.links[0].attributes and server.trace_state == "vendor=ab,x=1"
    assert server.status.message and server.flags == 0x300


def test_equal_resources_that_are_distinct_objects_share_a_group_as_in_the_sdk() -> None:
    first = _spans(Resource({"service.name": "trainerhub"}))
    second = _spans(Resource({"service.name": "trainerhub"}))  # equal, not the same object
    assert first[0].resource is not second[0].resource
    spans = [first[0], second[1], first[2], second[0], _spans(Resource({"service.name": "other"}))[0], first[1]]
    expected = sdk_encode_spans(spans)
    assert len(expected.resource_spans) == 2
    assert ExportTraceServiceRequest.FromString(encode_spans(spans).SerializeToString()) == expected


def test_an_empty_batch_and_one_span() -> None:
    assert encode_spans([]).SerializePartialToString() == sdk_encode_spans([]).SerializeToString() == b""
    (one, *_) = _spans(Resource({}))
    assert ExportTraceServiceRequest.FromString(encode_spans([one]).SerializeToString()) == sdk_encode_spans([one])


def test_log_records_are_the_sdks_too() -> None:
    from opentelemetry._logs import SeverityNumber
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs as sdk_encode_logs
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

    from otel_trainerhub.export.encoding import encode_logs

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=Resource.create({"service.name": "trainerhub"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    span = NonRecordingSpan(SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, is_remote=False, trace_flags=TraceFlags(1)))
    request = provider.get_logger("otel_trainerhub.request")
    request.emit(timestamp=1_796_000_000_000_000_001, observed_timestamp=1_796_000_000_000_000_002, severity_number=SeverityNumber.INFO,
                 severity_text="INFO", body="request", attributes={"method": "GET", "status_code": 200, "duration_ms": 1.25, "path": "/api/ping/"},
                 context=trace.set_span_in_context(span))
    request.emit(body="no trace, no time", severity_number=SeverityNumber.WARN, severity_text="WARNING", attributes={"ok": False})
    provider.get_logger("apps.bookings", "1.0").emit(body={"structured": ["a", 1]}, event_name="booking.created")
    records = list(exporter.get_finished_logs())
    expected = sdk_encode_logs(records)
    for _ in range(2):
        assert ExportLogsServiceRequest.FromString(encode_logs(records).SerializeToString()) == expected
    first = expected.resource_logs[0].scope_logs[0].log_records[0]
    assert first.trace_id and first.span_id and first.flags == 1 and first.observed_time_unix_nano and len(expected.resource_logs[0].scope_logs) == 2


def test_off_the_main_thread_encoding_gives_the_gil_away_between_slices(monkeypatch) -> None:
    import threading

    from otel_trainerhub.export import encoding

    spans = _spans(Resource({"service.name": "trainerhub"})) * 50
    pauses: list[float] = []
    monkeypatch.setattr(encoding, "_SLICE_S", 0.0)  # every span ends a slice
    monkeypatch.setattr(encoding.time, "sleep", pauses.append)
    on_main = encode_spans(spans).SerializeToString()
    assert pauses == []  # a flush on the main thread (shutdown, a request) never pauses
    out: list[bytes] = []
    worker = threading.Thread(target=lambda: out.append(encode_spans(spans).SerializeToString()))
    worker.start()
    worker.join(10)
    assert out == [on_main]
    assert len(pauses) == len(spans) and set(pauses) == {encoding._PAUSE_S}
