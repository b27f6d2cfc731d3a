"""OTLP span and log encoding straight to protobuf bytes, the same message the SDK's encoders build.

The SDK's ``encode_spans`` makes a protobuf object per span, per attribute and per value,
then serialises them: about 300 us per server span of 20 attributes on this project's
machines, all of it on the export thread holding the GIL, so a batch of 512 spans stalls
the requests in flight for about 150 ms (the trivial endpoint's p99 under load). Here each
field is written as bytes, and a (key, value) pair seen before (``http.method=GET``, a
route, a statement) is taken from a bounded cache already encoded. The output parses to a
message equal to the SDK's (``tests/unit/test_encoding.py`` checks it field for field).
"""

from __future__ import annotations

import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from otel_trainerhub import patches
from otel_trainerhub._sdk import plain_attributes, sdk_encode_logs, span_attributes
from otel_trainerhub.contain import swallowed

__all__ = ["Encoded", "encode_logs", "encode_spans", "install"]

_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_HAS_IS_REMOTE, _IS_REMOTE = 0x100, 0x200
_double = struct.Struct("<d").pack
_fixed64 = struct.Struct("<Q").pack
_fixed32 = struct.Struct("<I").pack

# A (key, type, value) whose KeyValue is kept encoded: a string up to this long, any int or bool.
_CACHED_STRING = 256
_CACHE_SIZE = 8192
_pairs: dict[tuple[int, str, type, Any], bytes] = {}
_headers: dict[Any, bytes] = {}  # resource / scope -> their encoded message, keyed by the SDK object
# Off the main thread (the export thread), encoding gives the GIL away after each slice of
# work: a request waiting for the GIL then waits at most a slice, not the interpreter's 5 ms
# switch interval, each time it takes the GIL back after I/O (the p99 under load and while a
# recovered collector's backlog drains). A pause costs about a tenth of a slice of throughput.
_SLICE_S = 0.001
_PAUSE_S = 0.0001


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,)) if n >= 0 else _varint(n + (1 << 64))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field; ``tag`` is its one-byte key (field number < 16, wire type 2)."""
    return bytes((tag,)) + _varint(len(payload)) + payload


def _text(tag: int, value: str) -> bytes:
    return _field(tag, value.encode("utf-8"))


def _value(value: Any) -> bytes:
    """An AnyValue's payload."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _text(0x0A, value)
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + _double(value)
    if isinstance(value, bytes):
        return _field(0x3A, value)
    if isinstance(value, Sequence):
        return _field(0x2A, b"".join(_field(0x0A, _value(v)) for v in value))
    if isinstance(value, Mapping):
        return _field(0x32, b"".join(_field(0x0A, _key_value(str(k), v)) for k, v in value.items()))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    return _text(0x0A, key) + _field(0x12, _value(value))


def _attributes(tag: int, attributes: Any) -> bytes:
    """Each attribute as a repeated KeyValue field ``tag``."""
    if not attributes:
        return b""
    parts = []
    pairs = _pairs
    for key, value in plain_attributes(attributes).items():
        kind = type(value)
        if kind is str and len(value) <= _CACHED_STRING or kind is int or kind is bool:
            cache_key = (tag, key, kind, value)
            encoded = pairs.get(cache_key)
            if encoded is None:
                if len(pairs) >= _CACHE_SIZE:
                    pairs.clear()
                encoded = pairs[cache_key] = _field(tag, _key_value(key, value))
            parts.append(encoded)
        elif kind is float:  # a duration, a ratio: rarely the same twice, but its key is
            prefix = pairs.get((tag, key, float, None))
            if prefix is None:
                name = _text(0x0A, key)
                prefix = pairs[(tag, key, float, None)] = bytes((tag,)) + _varint(len(name) + 11) + name + b"\x12\x09\x21"
            parts.append(prefix + _double(value))
        else:
            parts.append(_field(tag, _key_value(key, value)))
    return b"".join(parts)


def _flags(parent: Any) -> bytes:
    return _fixed32(_HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE)


def _span(span: Any) -> bytes:
    context = span.get_span_context()
    parts = [b"\x0a\x10" + context.trace_id.to_bytes(16, "big"), b"\x12\x08" + context.span_id.to_bytes(8, "big")]
    if context.trace_state:
        parts.append(_text(0x1A, ",".join(f"{k}={v}" for k, v in context.trace_state.items())))
    parent = span.parent
    if parent:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    if span.name:
        parts.append(_text(0x2A, span.name))
    parts.append(b"\x30" + _varint(_KINDS[span.kind.name]))
    parts.append(b"\x39" + _fixed64(span.start_time) + b"\x41" + _fixed64(span.end_time))
    parts.append(_attributes(0x4A, span_attributes(span)))
    if span.dropped_attributes:
        parts.append(b"\x50" + _varint(span.dropped_attributes))
    for event in span.events:
        body = b"\x09" + _fixed64(event.timestamp) + (_text(0x12, event.name) if event.name else b"") + _attributes(0x1A, event.attributes)
        if event.dropped_attributes:
            body += b"\x20" + _varint(event.dropped_attributes)
        parts.append(_field(0x5A, body))
    if span.dropped_events:
        parts.append(b"\x60" + _varint(span.dropped_events))
    for link in span.links:
        body = b"\x0a\x10" + link.context.trace_id.to_bytes(16, "big") + b"\x12\x08" + link.context.span_id.to_bytes(8, "big")
        body += _attributes(0x22, link.attributes)
        if link.dropped_attributes:
            body += b"\x28" + _varint(link.dropped_attributes)
        parts.append(_field(0x6A, body + b"\x35" + _flags(link.context)))
    if span.dropped_links:
        parts.append(b"\x70" + _varint(span.dropped_links))
    status = span.status
    body = (_text(0x12, status.description) if status.description else b"") + (b"\x18" + _varint(status.status_code.value) if status.status_code.value else b"")
    parts.append(_field(0x7A, body))
    parts.append(b"\x85\x01" + _flags(parent))
    return _field(0x12, b"".join(parts))  # ScopeSpans.spans


def _remembered(obj: Any, encode: Any) -> bytes:
    encoded = _headers.get(obj)
    if encoded is None:
        if len(_headers) >= 64:
            _headers.clear()
        encoded = _headers[obj] = encode(obj)
    return encoded


def _scope(scope: Any) -> bytes:
    if scope is None:
        return _field(0x0A, b"")
    body = (_text(0x0A, scope.name) if scope.name else b"") + (_text(0x12, scope.version) if scope.version else b"")
    return _field(0x0A, body + _attributes(0x1A, scope.attributes))


def _resource(resource: Any) -> bytes:
    return _field(0x0A, _attributes(0x0A, resource.attributes))


class Encoded:
    """What the SDK's ``encode_spans`` / ``encode_logs`` return, as far as their HTTP exporters use it."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def SerializePartialToString(self) -> bytes:  # noqa: N802 (protobuf's name)
        return self._data

    SerializeToString = SerializePartialToString


def encode_spans(spans: Sequence[Any]) -> Any:
    """An ``ExportTraceServiceRequest`` of ``spans``, grouped by resource then scope as the SDK
    does; a batch this cannot encode goes to the SDK's encoder instead (and the error is ours)."""
    try:
        return Encoded(_encode(spans, _span))
    except Exception:
        swallowed("span encoding")
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as sdk_encode_spans

        return sdk_encode_spans(spans)


def encode_logs(batch: Sequence[Any]) -> Any:
    """An ``ExportLogsServiceRequest`` of ``batch`` (ReadableLogRecords), as the SDK builds it."""
    try:
        return Encoded(_encode(batch, _log))
    except Exception:
        swallowed("log encoding")
        return sdk_encode_logs(batch)


def install(exporter_module: Any, signal: str) -> None:
    """Make ``exporter_module`` (the SDK's OTLP/HTTP span or log exporter's) encode with this module."""
    if signal == "traces":
        patches.replace(exporter_module, "encode_spans", encode_spans)
    elif signal == "logs":
        patches.replace(exporter_module, "encode_logs", encode_logs)


def _log(readable: Any) -> bytes:
    record = readable.log_record
    parts = []
    if record.timestamp:
        parts.append(b"\x09" + _fixed64(record.timestamp))
    severity = getattr(record.severity_number, "value", None)
    if severity:
        parts.append(b"\x10" + _varint(severity))
    if record.severity_text:
        parts.append(_text(0x1A, record.severity_text))
    parts.append(_field(0x2A, _value(record.body)))
    parts.append(_attributes(0x32, record.attributes))
    if readable.dropped_attributes:
        parts.append(b"\x38" + _varint(readable.dropped_attributes))
    flags = int(record.trace_flags or 0)
    if flags:
        parts.append(b"\x45" + _fixed32(flags))
    if record.trace_id:
        parts.append(b"\x4a\x10" + record.trace_id.to_bytes(16, "big"))
    if record.span_id:
        parts.append(b"\x52\x08" + record.span_id.to_bytes(8, "big"))
    if record.observed_timestamp:
        parts.append(b"\x59" + _fixed64(record.observed_timestamp))
    if record.event_name:
        parts.append(_text(0x62, record.event_name))
    return _field(0x12, b"".join(parts))  # ScopeLogs.log_records


def _encode(items: Sequence[Any], encode_one: Callable[[Any], bytes]) -> bytes:
    """Items (spans or log records, each by ``encode_one``) grouped by resource, then by scope,
    in first-seen order (the SDK's defaultdicts)."""
    # A Resource hashes by JSON-encoding its attributes, on every lookup (about a third of a
    # span's encoding): each resource object is looked up once per batch, by identity after
    # that. Equal resources that are distinct objects still share one group, as in the SDK.
    grouped: dict[Any, defaultdict[Any, list[bytes]]] = {}
    groups: dict[int, defaultdict[Any, list[bytes]]] = {}
    paced = threading.current_thread() is not threading.main_thread()
    clock = time.perf_counter
    slice_ends = clock() + _SLICE_S
    for item in items:
        resource = item.resource
        scopes = groups.get(id(resource))
        if scopes is None:
            scopes = groups[id(resource)] = grouped.setdefault(resource, defaultdict(list))
        scopes[item.instrumentation_scope or None].append(encode_one(item))
        if paced and clock() > slice_ends:
            time.sleep(_PAUSE_S)  # releases the GIL to whoever waits for it
            slice_ends = clock() + _SLICE_S
    out = []
    for resource, scopes in grouped.items():
        body = [_remembered(resource, _resource)]
        for scope, encoded in scopes.items():
            scope_body = _remembered(scope, _scope) if scope is not None else _scope(None)
            schema = _text(0x1A, scope.schema_url) if scope is not None and scope.schema_url else b""
            body.append(_field(0x12, scope_body + b"".join(encoded) + schema))
        if resource.schema_url:
            body.append(_text(0x1A, resource.schema_url))
        out.append(_field(0x0A, b"".join(body)))
    return b"".join(out)
