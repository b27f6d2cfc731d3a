"""Run in the fixture's directory: a failing statement (a unique violation whose message names
the duplicated e-mail address), then PostgreSQL refusing the connection in the middle of the
process's life (its port changed under a live Django), then the database back. Prints the
responses' statuses as one JSON document; the telemetry goes to the OTLP endpoint."""

import io
import json
import socket
import sys

from config.wsgi import application  # the fixture's first import instruments
from django.db import IntegrityError, connection
from opentelemetry import metrics, trace


def call(path: str) -> str:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
               "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000"}
    status: list[str] = []
    response = application(environ, lambda s, h, e=None: status.append(s))
    try:
        b"".join(response)
    finally:
        response.close()
    return status[0]


statuses = [call("/api/trainers/")]
tracer = trace.get_tracer("database_faults")
with tracer.start_as_current_span("import contacts"):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE contacts (email text UNIQUE)")
        cursor.execute("INSERT INTO contacts VALUES (%s)", ["ana.secret@example.com"])
        try:
            cursor.execute("INSERT INTO contacts VALUES (%s)", ["ana.secret@example.com"])
        except IntegrityError:
            statuses.append("IntegrityError")

# PostgreSQL goes away: the next connection Django opens is refused.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    closed_port = probe.getsockname()[1]
connection.close()
real_port = connection.settings_dict["PORT"]
connection.settings_dict["PORT"] = closed_port
statuses.append(call("/api/trainers/"))
connection.close()
connection.settings_dict["PORT"] = real_port
statuses.append(call("/api/trainers/"))
trace.get_tracer_provider().force_flush()
metrics.get_meter_provider().force_flush()
print(json.dumps({"statuses": statuses, "refused_port": closed_port}))
