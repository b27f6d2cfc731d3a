"""A local stand-in for Sentry's ingest: the real sentry-sdk sends here (DSN http://key@127.0.0.1:PORT/1)."""

from __future__ import annotations

import gzip
import json
import threading
import time
import zlib
from http.server import ThreadingHTTPServer
from typing import Any


def _standin() -> Any:
    """monitoring/sentry_standin.py (not a package): its cross-origin handler, shared with the sink."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("sentry_standin", Path(__file__).resolve().parents[2] / "monitoring/sentry_standin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def decode_envelope(body: bytes) -> list[tuple[dict[str, Any], Any]]:
    """(item header, payload) for each item of a Sentry envelope."""
    lines = body.split(b"\n")
    items = []
    i = 1  # line 0 is the envelope header
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        header = json.loads(lines[i])
        length = header.get("length")
        if length is not None:
            rest = b"\n".join(lines[i + 1 :])
            payload_bytes, remainder = rest[:length], rest[length + 1 :]
            lines = [b"", *remainder.split(b"\n")]
            i = 1
        else:
            payload_bytes = lines[i + 1]
            i += 2
        try:
            payload: Any = json.loads(payload_bytes)
        except ValueError:
            payload = payload_bytes
        items.append((header, payload))
    return items


class SentrySink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        sink = self

        class Handler(_standin().CrossOriginHandler):  # type: ignore[name-defined,misc]
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli  # type: ignore[import-not-found]

                    body = brotli.decompress(body)
                with sink._lock:
                    sink.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "ok"}')

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://public-key@127.0.0.1:{self._server.server_port}/1"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_port)

    def otlp(self, signal: str = "traces") -> list[dict[str, Any]]:
        """Requests to Sentry's OTLP endpoints (``/api/<project>/integration/otlp/v1/<signal>``)."""
        with self._lock:
            return [r for r in self.requests if r["path"].endswith(f"/integration/otlp/v1/{signal}")]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            requests = list(self.requests)
        events = []
        for r in requests:
            if r["path"].split("?")[0].endswith("/envelope/"):
                events += [payload for header, payload in decode_envelope(r["body"]) if header.get("type") == "event"]
            elif r["path"].endswith("/store/"):
                events.append(json.loads(r["body"]))
        return events

    def raw(self) -> str:
        with self._lock:
            return "\n".join(r["body"].decode(errors="replace") + json.dumps(r["headers"]) for r in self.requests)

    def wait_for_events(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self.events()
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} Sentry events, got {len(events)}: {[e.get('exception') for e in events]}")
            time.sleep(0.1)
