"""The fixture served by uvicorn and daphne (config.asgi, one event loop): async views and the async ORM,
requests interleaving on the loop, streaming responses, a client that leaves mid-stream,
uvicorn's own log lines, and the flush at shutdown. Real PostgreSQL and Redis; spans over
OTLP/HTTP to a receiver in this process. (The WSGI tests of trace trees, attribution, logging
and Sentry also run over gunicorn's uvicorn worker: the ``serve`` fixture.)"""

from __future__ import annotations

import concurrent.futures
import http.client as http_client
import json
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.otlp import OtlpReceiver, Span, children, trace_of
from tests.support.stack import base_env, http, start_asgi, start_gunicorn

pytestmark = pytest.mark.integration


def _server(spans: list[Span], name: str) -> Span:
    found = [s for s in spans if s.name == name and s.kind == "SERVER"]
    assert len(found) == 1, (name, sorted({s.name for s in spans}))
    return found[0]


def _sql(trace: list[Span], parent: Span) -> list[Span]:
    return [s for s in children(trace, parent) if s.attributes.get("db.system") == "postgresql"]


def _json_lines(lines: list[str]) -> list[dict]:
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:300]!r}") from None
    return records


ASGI_SERVERS = ("uvicorn", "daphne")


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_async_views_and_the_async_orm_are_traced_like_sync_ones(server: str, seeded_database, clean_redis, receiver: OtlpReceiver, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), SLOW_REQUEST_THRESHOLD="5")
    uvicorn, url = start_asgi(env, log_dir, server=server)
    try:
        status, body, headers = http("GET", f"{url}/api/async/trainers/", headers={"X-Request-ID": "asgi-req-1"})
        # (daphne sends header names in lower case)
        assert status == 200 and {k.lower(): v for k, v in headers.items()}["x-request-id"] == "asgi-req-1"
        trainers = len(json.loads(body)["trainers"])
        assert http("GET", f"{url}/api/async/fail/")[0] == 500
        assert http("GET", f"{url}/api/bookings/", token="client-1")[0] == 200
        spans = receiver.wait_for(lambda s: {"GET api/async/trainers/", "GET api/async/fail/", "GET api/bookings/"} <= {x.name for x in s})
    finally:
        uvicorn.stop()
    directory = _server(spans, "GET api/async/trainers/")
    assert directory.parent_id == "" and directory.attributes["http.route"] == "api/async/trainers/"
    assert directory.attributes.get("http.status_code", directory.attributes.get("http.response.status_code")) == 200
    trace = trace_of(spans, directory.trace_id)
    # Every query of the async ORM, and of the sync_to_async hop, is a child of the request.
    sql = _sql(trace, directory)
    assert len(sql) == len(trace) - 1, sorted((s.name, s.parent_id == directory.span_id) for s in trace)
    assert directory.attributes["trainerhub.db.query_count"] == len(sql)
    assert any("COUNT(" in s.attributes.get("db.statement", "") for s in sql)  # the sync_to_async hop
    # One query for the trainers, then one per trainer for its user: the async N+1.
    assert directory.attributes["trainerhub.n_plus_one.count"] == trainers >= 5
    assert directory.attributes["trainerhub.n_plus_one.source"].startswith("apps/core/async_views.py:")
    failed = _server(spans, "GET api/async/fail/")
    assert failed.status == 2 and "RuntimeError" in failed.status_message
    # A sync view behind the token middleware, served async: the user is on the span.
    assert _server(spans, "GET api/bookings/").attributes["user.id"]

    # Every line is JSON, the server's own included (daphne's access log too, which it
    # writes without logging); the request's lines carry its trace.
    records = _json_lines(uvicorn.stdout_lines())
    started = {"uvicorn": ("uvicorn.error", "Started server process"), "daphne": ("daphne.cli", "Starting server at")}[server]
    assert any(r["name"] == started[0] and r["message"].startswith(started[1]) for r in records), records[:5]
    assert not any("color_message" in r for r in records)
    mine = [r for r in records if r.get("request_id") == "asgi-req-1"]
    assert {r["name"] for r in mine} >= {"otel_trainerhub.request", "otel_trainerhub.performance"}
    assert all(r["trace_id"] == directory.trace_id for r in mine)
    access = [r for r in records if r["name"] == f"{server}.access" and "GET /api/async/trainers/" in r["message"]]
    assert len(access) == 1, [r for r in records if r["name"].endswith("access")]
    if server == "uvicorn":  # uvicorn logs it inside the request's context
        assert access[0]["request_id"] == "asgi-req-1" and access[0]["trace_id"] == directory.trace_id
    assert not uvicorn.err_path.read_text().strip(), uvicorn.err_path.read_text()[-2000:]


def test_requests_interleaving_on_one_event_loop_keep_their_own_counts(seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http())
    uvicorn, url = start_asgi(env, log_dir)
    wanted = {"few": 3, "many": 9}
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda n: http("GET", f"{url}/api/async/interleaved/?queries={n}&pause_ms=40"), wanted.values()))
        assert [r[0] for r in results] == [200, 200]
        spans = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= 2)
    finally:
        uvicorn.stop()
    roots = sorted((s for s in spans if s.kind == "SERVER"), key=lambda s: s.attributes["trainerhub.db.query_count"])
    assert len(roots) == 2
    few, many = roots
    # They ran at the same time on the one loop: each started before the other ended.
    assert few.start_ns < many.end_ns and many.start_ns < few.end_ns
    for root, queries in zip(roots, wanted.values()):
        sql = _sql(trace_of(spans, root.trace_id), root)
        # The loop's queries, plus the set-up statement of the connection the request opened.
        set_up = [s for s in sql if "set_config" in s.attributes.get("db.statement", "")]
        assert len(sql) == queries + len(set_up) and len(set_up) <= 1, [s.attributes.get("db.statement", "")[:40] for s in sql]
        assert root.attributes["trainerhub.db.query_count"] == len(sql)
        assert all(s.trace_id == root.trace_id for s in sql)


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn-sync"])
def test_a_streaming_response_is_one_span_for_the_whole_stream(server: str, seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http())
    proc, url = start_asgi(env, log_dir) if server == "uvicorn" else start_gunicorn(env, log_dir, workers=1)
    paths = {"GET api/stream/": "/api/stream/?chunks=4"}
    if server == "uvicorn":  # an async iterator under WSGI is Django's warning, not a use case
        paths["GET api/async/stream/"] = "/api/async/stream/?chunks=4&pause_ms=100"
    try:
        for path in paths.values():
            status, body, _ = http("GET", url + path)
            assert status == 200 and len(body.decode().splitlines()) == 4
        spans = receiver.wait_for(lambda s: set(paths) <= {x.name for x in s})
    finally:
        proc.stop()
    for name in paths:
        root = _server(spans, name)
        sql = _sql(trace_of(spans, root.trace_id), root)
        # The queries run while the response is sent are the request's, and the span lasts until the last one.
        assert len([s for s in sql if "trainers_trainer" in s.attributes.get("db.statement", "")]) == 4, name
        assert root.attributes["trainerhub.db.query_count"] == len(sql)
        assert root.end_ns >= max(s.end_ns for s in sql)
    if server == "uvicorn":
        assert _server(spans, "GET api/async/stream/").duration_ms >= 400  # 4 pauses of 100 ms


def test_a_stream_that_raises_marks_its_request_failed(seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http())
    proc, url = start_gunicorn(env, log_dir, workers=1)
    try:
        try:
            http("GET", f"{url}/api/stream/?chunks=4&fail_at=2")
        except (OSError, http_client.HTTPException):
            pass  # the server cuts the response short: what the client sees varies with the server
        spans = receiver.wait_for(lambda s: any(x.kind == "SERVER" for x in s))
    finally:
        proc.stop()
    root = _server(spans, "GET api/stream/")
    # The view returned 200 before the stream failed; the span says the request failed.
    assert root.status == 2 and root.status_message == "RuntimeError: stream failed on purpose at chunk 2", root.status_message
    assert [e["name"] for e in root.events] == ["exception"]
    assert root.attributes["trainerhub.db.query_count"] == len(_sql(trace_of(spans, root.trace_id), root)) >= 2


def test_a_client_leaving_mid_stream_leaves_no_span_open_and_no_error(seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http())
    uvicorn, url = start_asgi(env, log_dir)
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            client.sendall(b"GET /api/async/stream/?chunks=60&pause_ms=100 HTTP/1.1\r\nHost: test\r\n\r\n")
            received = b""
            while b"\r\n0," not in received and b"\n0," not in received:  # the first row
                chunk = client.recv(4096)
                assert chunk, received
                received += chunk
        left_at = time.monotonic()
        (root,) = [s for s in receiver.wait_for(lambda s: any(x.kind == "SERVER" for x in s)) if s.kind == "SERVER"]
        ended_after = time.monotonic() - left_at
        assert http("GET", f"{url}/api/ping/")[0] == 200  # still serving
    finally:
        uvicorn.stop()
    # The span ended when the stream did, well before the 6 s the whole stream takes.
    assert root.name == "GET api/async/stream/" and root.duration_ms < 4000, (root.duration_ms, ended_after)
    records = _json_lines(uvicorn.stdout_lines())
    assert not [r for r in records if r["levelname"] in ("ERROR", "CRITICAL")], [r for r in records if r["levelname"] == "ERROR"]
    assert "Traceback" not in uvicorn.output()


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_a_client_leaving_while_the_view_runs_ends_its_span_there(server: str, seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    # Django cancels the view; contrib's middleware never sees a response. The span used to
    # stay open until the process exited (and was then lost to the shutdown).
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http())
    proc, url = start_asgi(env, log_dir, server=server)
    address = urlsplit(url)
    try:
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            client.sendall(b"GET /api/async/interleaved/?queries=30&pause_ms=100 HTTP/1.1\r\nHost: test\r\n\r\n")
            # Leave once the view has run a few of its 30 queries (3 s in all).
            receiver.wait_for(lambda s: len([x for x in s if x.attributes.get("db.system") == "postgresql"]) >= 3)
        spans = receiver.wait_for(lambda s: any(x.kind == "SERVER" for x in s))
        assert http("GET", f"{url}/api/ping/")[0] == 200  # still serving
    finally:
        proc.stop()
    (root,) = [s for s in spans if s.kind == "SERVER"]
    assert root.name == "GET api/async/interleaved/" and root.duration_ms < 2500, root.duration_ms
    assert [e["name"] for e in root.events] == ["client disconnected"], root.events
    sql = _sql(trace_of(spans, root.trace_id), root)
    assert 3 <= root.attributes["trainerhub.db.query_count"] == len(sql) < 30
    records = _json_lines(proc.stdout_lines())
    assert not [r for r in records if r["levelname"] in ("ERROR", "CRITICAL") or "ended span" in r["message"]], records[-5:]


@pytest.mark.parametrize("server", [*ASGI_SERVERS, "gunicorn-uvicorn"])
def test_the_server_flushes_at_shutdown_within_the_bound(server: str, seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    # A batch delay far longer than the test: only the shutdown flush can deliver these spans.
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT="2")
    if server == "gunicorn-uvicorn":  # SIGTERM to the master: each worker flushes its own
        uvicorn, url = start_gunicorn(env, log_dir, workers=2, asgi=True)
    else:
        uvicorn, url = start_asgi(env, log_dir, server=server)
    for _ in range(5):
        assert http("GET", f"{url}/api/async/trainers/")[0] == 200
    assert not [s for s in receiver.spans() if s.kind == "SERVER"]
    started = time.monotonic()
    code = uvicorn.stop()
    took = time.monotonic() - started
    # uvicorn re-raises the signal it shut down on, once shut down: -SIGTERM is its clean exit.
    assert code in (0, -15), uvicorn.output()[-2000:]
    assert took < 2.5 + 1.0, took  # the shutdown bound, plus the server's own shutdown
    assert len([s for s in receiver.spans() if s.kind == "SERVER"]) == 5
