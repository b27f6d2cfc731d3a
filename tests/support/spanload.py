"""Synthetic load for the collector tiers: traces shaped like the application's (a server span
with our root attributes, SQL and Redis client spans) sent over OTLP/gRPC at a steady rate,
with every accepted trace id remembered so a test can count what arrived against what left."""

from __future__ import annotations

import os
import random
import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

SPANS_PER_TRACE = 5


def _attr(key: str, value: str | int | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def trace_spans(trace_id: bytes, now_ns: int) -> list[Span]:
    root_id = os.urandom(8)
    root = Span(trace_id=trace_id, span_id=root_id, name="GET api/bookings/", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now_ns - 20_000_000, end_time_unix_nano=now_ns,
                attributes=[_attr("http.request.method", "GET"), _attr("http.route", "api/bookings/"),
                            _attr("url.path", "/api/bookings/"), _attr("http.response.status_code", 200),
                            _attr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) spanload"),
                            _attr("trainerhub.db.count", 3), _attr("trainerhub.db.duration_ms", 4),
                            _attr("trainerhub.route", "api/bookings/"), _attr("trainerhub.slow", False)])
    children = [
        Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=root_id, name=name, kind=Span.SPAN_KIND_CLIENT,
             start_time_unix_nano=now_ns - 15_000_000 + i * 3_000_000, end_time_unix_nano=now_ns - 14_000_000 + i * 3_000_000,
             attributes=[_attr("db.system", system), _attr("db.statement", statement)])
        for i, (name, system, statement) in enumerate([
            ("SELECT trainerhub", "postgresql", 'SELECT "bookings_booking"."id", "bookings_booking"."starts_at" FROM "bookings_booking" WHERE "bookings_booking"."client_id" = %s'),
            ("SELECT trainerhub", "postgresql", 'SELECT COUNT(*) AS "__count" FROM "bookings_booking" WHERE "bookings_booking"."status" = %s'),
            ("GET", "redis", "GET booking-counts:?"),
            ("SELECT trainerhub", "postgresql", 'SELECT "users_user"."id" FROM "users_user" WHERE "users_user"."id" = %s LIMIT 21'),
        ][: SPANS_PER_TRACE - 1])
    ]
    return [root, *children]


class SpanLoad:
    """``rate`` traces a second to ``endpoint`` (host:port, OTLP/gRPC), ``per_request`` traces per
    export request, until stopped."""

    def __init__(self, endpoint: str, *, rate: float = 200.0, per_request: int = 20) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        self._channel = grpc.insecure_channel(endpoint)
        self._stub = TraceServiceStub(self._channel)
        self.rate = rate
        self.per_request = per_request
        self.accepted: set[bytes] = set()
        self.failed_requests = 0
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resource = Resource(attributes=[_attr("service.name", "spanload"), _attr("service.instance.id", os.urandom(4).hex())])

    def send(self, traces: int) -> int:
        """Sends ``traces`` traces now; returns how many the endpoint accepted."""
        ids = [random.getrandbits(128).to_bytes(16, "big") for _ in range(traces)]
        now = time.time_ns()
        spans = [s for t in ids for s in trace_spans(t, now)]
        request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=self._resource, scope_spans=[ScopeSpans(spans=spans)])])
        started = time.monotonic()
        try:
            self._stub.Export(request, timeout=10)
        except Exception:  # noqa: BLE001 - any refusal: these traces did not leave
            self.failed_requests += 1
            return 0
        finally:
            self.latencies.append(time.monotonic() - started)
        self.accepted.update(ids)
        return traces

    def _run(self) -> None:
        interval = self.per_request / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.send(self.per_request)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> SpanLoad:
        self._thread = threading.Thread(target=self._run, name="spanload", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._channel.close()

    @property
    def spans_accepted(self) -> int:
        return len(self.accepted) * SPANS_PER_TRACE
