"""An HTTP endpoint that accepts what it is sent and drops it, counting: the Sentry DSN of
the load benchmark's ``sentry`` variant.

    python benchmarks/drop_sink.py --port 28999      # GET /stats -> JSON counts

Per request it only reads the body and keeps it; ``/stats`` decodes what came since the
last call (Sentry envelopes: transactions and their spans, and the SDK's client reports
of what it discarded), so the counting costs nothing while the load runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.sentry_sink import decode_envelope  # noqa: E402  (the one envelope parser)


def count_envelope(body: bytes, counts: Counter[str]) -> None:
    for header, payload in decode_envelope(body):
        kind = header.get("type")
        counts[f"items_{kind}"] += 1
        if kind == "transaction":
            counts["spans"] += 1 + len(payload.get("spans", []))
        elif kind == "client_report":
            for d in payload.get("discarded_events", []):
                counts[f"discarded_{d.get('category')}_{d.get('reason')}"] += int(d.get("quantity", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=28999)
    args = parser.parse_args()
    lock = threading.Lock()
    pending: list[tuple[str, bytes]] = []
    counts: Counter[str] = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                pending.append((self.headers.get("Content-Encoding", ""), body))
            self._answer(b'{"id":"00000000000000000000000000000000"}')

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                batch, pending[:] = list(pending), []
            for encoding, body in batch:
                counts["requests"] += 1
                try:
                    raw = gzip.decompress(body) if encoding == "gzip" else zlib.decompress(body) if encoding == "deflate" else body
                    count_envelope(raw, counts)
                except Exception:  # noqa: BLE001
                    counts["undecodable"] += 1
            self._answer(json.dumps(dict(counts)).encode())

        def _answer(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"drop sink on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
