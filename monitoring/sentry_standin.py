"""A local stand-in for Sentry's ingest (OTLP, and the browser SDK's envelopes), for the local
stack when no real Sentry is set.

The collector's ``otlphttp/sentry`` exporter posts here exactly what it would post to
``https://<org>.ingest.sentry.io/api/<project>/integration/otlp/v1/{traces,logs}``. Each
request is appended to a JSON Lines file (path, the ``x-sentry-auth`` header with its key
masked, content type, body size) so people can see what Sentry would receive. The trainer
app's browser SDK posts envelopes to ``/api/<project>/envelope/`` (cross-origin: answered with
CORS headers as Sentry does); each is recorded with its item types and the events' trace ids.

    python monitoring/sentry_standin.py --port 8766 --record var/stack/sentry-ingest.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OTLP_PATH = re.compile(r"^/api/(?P<project>\d+)/integration/otlp/v1/(?P<signal>traces|logs|metrics)$")
ENVELOPE_PATH = re.compile(r"^/api/(?P<project>\d+)/envelope/(?:\?.*)?$")


def envelope_summary(body: bytes) -> dict:
    """Item types and the events' trace ids of a Sentry envelope (never the payloads)."""
    types, trace_ids = [], []
    for line in body.split(b"\n")[1:]:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and "type" in item:
            types.append(item["type"])
        elif isinstance(item, dict) and "contexts" in item:
            trace_ids.append(((item.get("contexts") or {}).get("trace") or {}).get("trace_id"))
    return {"items": types, "trace_ids": trace_ids}


class CrossOriginHandler(BaseHTTPRequestHandler):
    """Answers browsers cross-origin, as Sentry's ingest does (the browser SDK posts from the app's pages)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def do_OPTIONS(self) -> None:  # noqa: N802
        self.send_response(204)
        self.send_header("Access-Control-Allow-Methods", "POST")
        self.send_header("Access-Control-Allow-Headers", "content-type, x-sentry-auth")
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    lock = threading.Lock()

    class Handler(CrossOriginHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            envelope = ENVELOPE_PATH.match(self.path)
            if envelope:
                with lock, args.record.open("a") as out:
                    out.write(json.dumps({"time": time.time(), "path": self.path.split("?")[0], "project": envelope["project"],
                                          **envelope_summary(body)}) + "\n")
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                return
            match = OTLP_PATH.match(self.path)
            auth = self.headers.get("x-sentry-auth") or ""
            record = {
                "time": time.time(),
                "path": self.path,
                "signal": match["signal"] if match else None,
                "project": match["project"] if match else None,
                "x_sentry_auth": re.sub(r"(sentry_key=)([^,\s]{4})[^,\s]*", r"\1\2…", auth),
                "content_type": self.headers.get("Content-Type"),
                "bytes": len(body),
            }
            with lock, args.record.open("a") as out:
                out.write(json.dumps(record) + "\n")
            self.send_response(200 if match and auth else 404 if not match else 401)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"sentry stand-in on http://{args.host}:{server.server_port}, recording to {args.record}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
