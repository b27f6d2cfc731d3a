"""Run in the fixture's directory: a user's own SpanProcessor, added through the standard
API after start-up, next to ours; requests through the WSGI app in-process. Prints what
the processor saw as one JSON document."""

import io
import json
import sys

from config.wsgi import application  # the fixture's first import instruments
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor


class Seen(SpanProcessor):
    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[dict] = []

    def on_start(self, span, parent_context=None) -> None:
        self.started.append(format(span.context.span_id, "016x"))

    def on_end(self, span) -> None:
        self.ended.append({"name": span.name, "span_id": format(span.context.span_id, "016x"), "kind": span.kind.name,
                           "attributes": dict(span.attributes)})


def call(path: str, token: str | None = None) -> str:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
               "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000"}
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    status: list[str] = []
    b"".join(application(environ, lambda s, h, e=None: status.append(s)))
    return status[0]


seen = Seen()
trace.get_tracer_provider().add_span_processor(seen)
statuses = [call("/api/ping/"), call("/api/trainers/"), call("/api/bookings/", "client-1"), call("/no/such/page/")]
trace.get_tracer_provider().force_flush()
from django.conf import settings

print(json.dumps({"statuses": statuses, "started": seen.started, "ended": seen.ended, "middleware": list(settings.MIDDLEWARE)}))
