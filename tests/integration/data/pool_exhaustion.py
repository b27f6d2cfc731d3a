"""Run in the fixture's directory with DATABASE_POOL_MAX_SIZE=1: one thread holds the pool's only
connection while a request waits for one and times out; then the connection comes back and a
request succeeds. Metrics are flushed while the request waits, so the waiting shows."""

import io
import json
import sys
import threading
import time

from config.wsgi import application  # the fixture's first import instruments
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
        response.close()  # request_finished: Django puts the connection back in the pool
    return status[0]


held, release = threading.Event(), threading.Event()


def hold() -> None:
    from django.db import connection

    connection.ensure_connection()
    held.set()
    release.wait(30)
    connection.close()  # back to the pool


def flush_while_waiting() -> None:
    time.sleep(0.25)  # inside the request's 0.5 s wait for a connection
    metrics.get_meter_provider().force_flush()


statuses = [call("/api/trainers/")]  # opens the pool
holder = threading.Thread(target=hold)
holder.start()
assert held.wait(10)
flusher = threading.Thread(target=flush_while_waiting)
flusher.start()
statuses.append(call("/api/trainers/"))  # waits 0.5 s, times out
flusher.join()
release.set()
holder.join()
statuses.append(call("/api/trainers/"))
trace.get_tracer_provider().force_flush()
metrics.get_meter_provider().force_flush()
print(json.dumps({"statuses": statuses}))
