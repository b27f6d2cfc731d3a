"""An OTLP receiver for tests: HTTP/protobuf and gRPC, decoding what the real exporters send."""

from __future__ import annotations

import dataclasses
import gzip
import threading
import time
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


@dataclasses.dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    resource: dict[str, Any]
    scope: str
    status: int
    start_ns: int
    end_ns: int
    events: list[dict[str, Any]]
    status_message: str = ""

    @property
    def pid(self) -> int:
        return int(self.resource["process.pid"])

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def decode_traces(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for rs in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in rs.resource.attributes}
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append(
                    Span(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        kind=KINDS.get(s.kind, str(s.kind)),
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                        resource=resource,
                        scope=ss.scope.name,
                        status=s.status.code,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        events=[{"name": e.name, **{kv.key: _value(kv.value) for kv in e.attributes}} for e in s.events],
                        status_message=s.status.message,
                    )
                )
    return out


class OtlpReceiver:
    """Collects spans, metric names and log records sent to it over OTLP (HTTP or gRPC)."""

    def __init__(self, refuse_traces_status: int | None = None) -> None:
        #: answer trace exports with this HTTP status (and keep nothing): a collector refusing data
        self.refuse_traces_status = refuse_traces_status
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        # Trace bodies are decoded when spans are asked for, not as they arrive: decoding in
        # Python costs the receiver more CPU than the exporters spend sending, and a receiver on
        # the same two cores would otherwise weigh on the very latencies a test measures.
        self._undecoded: list[bytes] = []
        self.metric_requests: list[ExportMetricsServiceRequest] = []
        self.log_requests: list[ExportLogsServiceRequest] = []
        self.requests = 0
        self._http: ThreadingHTTPServer | None = None
        self._grpc: Any = None

    # -- servers --
    def start_http(self, port: int = 0) -> str:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if receiver.refuse_traces_status and self.path.endswith("/v1/traces"):
                    self.send_response(receiver.refuse_traces_status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                receiver._accept(self.path, body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._http.server_port}"

    def start_grpc(self) -> str:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        receiver = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:  # noqa: N802
                receiver._accept("/v1/traces", request.SerializeToString())
                return ExportTraceServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc = server
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(0)

    def _accept(self, path: str, body: bytes) -> None:
        with self._lock:
            self.requests += 1
            if path.endswith("/v1/traces"):
                self._undecoded.append(body)
            elif path.endswith("/v1/metrics"):
                req = ExportMetricsServiceRequest()
                req.ParseFromString(body)
                self.metric_requests.append(req)
            elif path.endswith("/v1/logs"):
                req = ExportLogsServiceRequest()
                req.ParseFromString(body)
                self.log_requests.append(req)

    # -- queries --
    def spans(self) -> list[Span]:
        with self._lock:
            for body in self._undecoded:
                self._spans.extend(decode_traces(body))
            self._undecoded.clear()
            return list(self._spans)

    def clear(self) -> None:
        with self._lock:
            self._spans.clear()
            self._undecoded.clear()
            self.metric_requests.clear()
            self.log_requests.clear()

    def wait_for(self, predicate: Callable[[list[Span]], bool], timeout: float = 20.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans()
            if predicate(spans):
                return spans
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for spans; have {len(spans)}: "
                    + ", ".join(sorted({s.name for s in spans}))[:2000]
                )
            time.sleep(0.1)

    def metric_names(self) -> set[str]:
        with self._lock:
            return {
                m.name
                for req in self.metric_requests
                for rm in req.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            }

    def metric_points(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any], float]]:
        """(resource attributes, point attributes, value) of every point of ``name`` (a histogram's count)."""
        out = []
        with self._lock:
            for req in self.metric_requests:
                for rm in req.resource_metrics:
                    resource = {kv.key: _value(kv.value) for kv in rm.resource.attributes}
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            if m.name != name:
                                continue
                            if m.HasField("histogram"):
                                for p in m.histogram.data_points:
                                    attrs = {kv.key: _value(kv.value) for kv in p.attributes}
                                    out.append((resource, attrs, p.count))
                                continue
                            data = m.sum if m.HasField("sum") else m.gauge
                            for p in data.data_points:
                                attrs = {kv.key: _value(kv.value) for kv in p.attributes}
                                value = p.as_int if p.HasField("as_int") else p.as_double
                                out.append((resource, attrs, value))
        return out


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.parent_id == parent.span_id]


def trace_of(spans: list[Span], trace_id: str) -> list[Span]:
    return [s for s in spans if s.trace_id == trace_id]
