"""The log lines of one trace, for the local stack: the Jaeger UI's "Log lines of this trace"
link (monitoring/jaeger/ui-config.json) opens ``/trace/<trace id>`` here.

The stack's application and worker write JSON lines to their logs (var/stack/logs); every
line logged inside a request or task carries ``trace_id``. This page lists the lines of one
trace from those files, oldest first, as a table (``?format=jsonl``: the lines themselves).
In production the same lines are in your log store: search it for ``trace_id``.

    python monitoring/trace_logs.py --port 8767 --log var/stack/logs/gunicorn.log --log var/stack/logs/celery-worker.log
"""

from __future__ import annotations

import argparse
import html
import json
import re
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TRACE_PATH = re.compile(r"^/trace/(?P<trace_id>[0-9a-fA-F]{32})$")
MAX_LINES = 2000  # per page: a trace with more lines than this says so
MAX_LINE_BYTES = 64 * 1024  # longer lines are not JSON the application wrote
SHOWN = ("timestamp", "levelname", "name", "message")


def lines_of_trace(logs: list[Path], trace_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file name, parsed line) for each JSON line of ``trace_id`` in ``logs``, file by file."""
    needle = f'"{trace_id}"'.encode()
    for log in logs:
        try:
            handle = log.open("rb")
        except OSError:
            continue
        with handle:
            for raw in handle:
                if needle not in raw or len(raw) > MAX_LINE_BYTES:
                    continue
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("trace_id") == trace_id:
                    yield log.name, line


def render(trace_id: str, found: list[tuple[str, dict[str, Any]]], truncated: bool) -> str:
    rows = []
    for source, line in found:
        rest = {k: v for k, v in line.items() if k not in SHOWN and k != "trace_id"}
        cells = [html.escape(str(line.get(k, ""))) for k in SHOWN]
        rows.append(f"<tr><td>{html.escape(source)}</td><td>{'</td><td>'.join(cells)}</td>"
                    f"<td><code>{html.escape(json.dumps(rest, sort_keys=True, default=str))}</code></td></tr>")
    more = f"<p>Only the first {MAX_LINES} lines are shown.</p>" if truncated else ""
    empty = "<p>No log line of this trace in the stack's logs (yet).</p>" if not found else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Log lines of trace {trace_id}</title>"
        "<style>body{font:13px sans-serif;margin:1em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top;text-align:left}"
        "code{white-space:pre-wrap;word-break:break-all}</style></head><body>"
        f"<h1>Log lines of trace {trace_id}</h1><p>{len(found)} lines</p>{more}{empty}"
        "<table><tr><th>log</th><th>timestamp</th><th>level</th><th>logger</th><th>message</th><th>fields</th></tr>"
        f"{''.join(rows)}</table></body></html>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--log", type=Path, action="append", required=True, help="a JSON-lines log file (repeatable)")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            match = TRACE_PATH.match(url.path)
            if not match:
                self._send(404, "text/plain", "GET /trace/<32 hex digits trace id>[?format=jsonl]\n")
                return
            trace_id = match["trace_id"].lower()
            found = []
            for item in lines_of_trace(args.log, trace_id):
                if len(found) == MAX_LINES:
                    break
                found.append(item)
            truncated = len(found) == MAX_LINES
            if urllib.parse.parse_qs(url.query).get("format") == ["jsonl"]:
                self._send(200, "application/x-ndjson", "".join(json.dumps(line) + "\n" for _, line in found))
            else:
                self._send(200, "text/html; charset=utf-8", render(trace_id, found, truncated))

        def _send(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
