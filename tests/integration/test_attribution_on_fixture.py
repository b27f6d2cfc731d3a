"""Attribution on the real fixture: PostgreSQL, Redis, gunicorn and a Celery worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver, Span
from tests.support.stack import base_env, http, start_celery, start_gunicorn

pytestmark = pytest.mark.integration


def _roots(spans: list[Span]) -> dict[str, Span]:
    return {s.name: s for s in spans if s.kind in ("SERVER", "CONSUMER")}


def test_findings_on_the_fixture(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path, serve) -> None:
    env = base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(),
        PROVIDERS_BASE_URL=sandbox,
        SLOW_REQUEST_THRESHOLD="0.5",
        REPORT_DELAY_SECONDS="0.7",
    )
    gunicorn, url = serve(env, log_dir, workers=1)
    worker = start_celery(env, log_dir, concurrency=1)
    try:
        assert http("GET", f"{url}/api/trainers/")[0] == 200
        assert http("GET", f"{url}/api/reports/revenue/")[0] == 200
        assert http("GET", f"{url}/api/reports/utilisation/")[0] == 200
        assert http("GET", f"{url}/api/bookings/", token="client-1")[0] == 200
        status, body, _ = http("GET", f"{url}/api/trainers/")
        service = json.loads(body)["trainers"][0]["services"][0]["id"]
        assert http("POST", f"{url}/api/bookings/", token="client-2", body={"service": service, "starts_at": f"2032-01-{5 + 10 * serve.keywords['asgi']:02d}T09:00:00+00:00"})[0] == 201
        spans = receiver.wait_for(lambda s: any(x.name.startswith("run/") for x in s) and len([x for x in s if x.kind == "SERVER"]) >= 6)
    finally:
        worker.stop()
        gunicorn.stop()
    roots = _roots(spans)
    lines = [json.loads(line) for line in gunicorn.stdout_lines() if line.startswith("{")]

    # The directory was requested twice. Under WSGI the second ran on the connection the first
    # opened; under ASGI Django runs each request's sync code on a connection of its own, so
    # its set-up statement (psycopg's set_config) is one more query of that request.
    directory_spans = [s for s in spans if s.name == "GET api/trainers/"]
    assert len(directory_spans) == 2
    directory = [s.attributes for s in directory_spans]
    n_plus_one = min(directory, key=lambda a: a["trainerhub.db.query_count"])
    first = directory_spans[directory.index(n_plus_one)]
    set_up = [c for c in spans if c.parent_id == first.span_id and "set_config" in c.attributes.get("db.statement", "")]
    # 8 trainers: one query for the trainers, then per trainer one for its user and one for its services.
    assert n_plus_one["trainerhub.db.query_count"] == 17 + len(set_up)
    assert len(set_up) <= 1
    assert n_plus_one["trainerhub.n_plus_one.count"] == 8
    statement = n_plus_one["trainerhub.n_plus_one.statement"]
    assert statement.startswith("SELECT ") and ("FROM \"users_user\"" in statement or "FROM \"trainers_service\"" in statement), statement
    assert n_plus_one["trainerhub.n_plus_one.source"].startswith("apps/trainers/views.py:")
    assert "trainerhub.slow" not in n_plus_one

    slow = roots["GET api/reports/revenue/"].attributes
    assert slow["trainerhub.slow"] is True
    assert slow["trainerhub.db.query_count"] >= 2  # plus connection set-up when the worker opens one
    assert 0 < slow["trainerhub.db.duration_ratio"] < 0.5

    # One slow statement (pg_sleep(0.15) inside it) in a fast request: the statement is flagged,
    # logged once with its route and source line, counted by route and statement; the request is not slow.
    report = roots["GET api/reports/utilisation/"]
    (slow_statement,) = [s for s in spans if s.trace_id == report.trace_id and s.attributes.get("trainerhub.db.slow") is True]
    assert "pg_sleep" in slow_statement.attributes["db.statement"] and "trainerhub.slow" not in report.attributes
    assert not any(s.attributes.get("trainerhub.db.slow") for s in spans if s.trace_id != report.trace_id)
    (line,) = [x for x in lines if x.get("message") == "Slow query"]
    assert (line["route"], line["trace_id"], line["span_id"]) == ("api/reports/utilisation/", report.trace_id, slow_statement.span_id)
    assert line["duration_ms"] >= 150 and line["source"].startswith("apps/analytics/views.py:") and "pg_sleep(?)" in line["statement"]
    assert ({"trainerhub.root.kind": "request", "trainerhub.route": "api/reports/utilisation/", "db.query.summary": "SELECT bookings_booking",
             "trainerhub.db.statement.fingerprint": line["fingerprint"]}, 1) in [(a, v) for _, a, v in receiver.metric_points("trainerhub.db.slow_queries")]

    normal = roots["GET api/bookings/"].attributes
    assert normal["trainerhub.db.query_count"] >= 3  # user, counts, page
    assert normal["trainerhub.cache.command_count"] >= 2  # counts read and written
    assert not any(k.startswith(("trainerhub.n_plus_one", "trainerhub.slow")) for k in normal)

    booking = roots["POST api/bookings/"].attributes
    assert booking["trainerhub.db.query_count"] >= 3 and booking["trainerhub.cache.command_count"] == 1

    task = roots["run/apps.notifications.tasks.send_booking_confirmation"].attributes
    # The task's own work, not the request's: its SELECT and INSERT, its cache, its email call.
    assert task["trainerhub.db.query_count"] >= 2  # plus connection set-up in a fresh prefork child
    assert task["trainerhub.http_client.request_count"] == 1
    assert task["trainerhub.http_client.duration_ms"] > 0
    assert task["trainerhub.cache.command_count"] >= 2

    # Metrics by route, derived from the same data.
    def metric(name: str) -> list:
        return [(a, v) for _, a, v in receiver.metric_points(name)]

    # Both directory requests were N+1s, in the one worker: its cumulative count is 2.
    assert ({"trainerhub.root.kind": "request", "trainerhub.route": "api/trainers/"}, 2) in metric("trainerhub.n_plus_one")
    assert ({"trainerhub.root.kind": "request", "trainerhub.route": "api/reports/revenue/"}, 1) in metric("trainerhub.slow")
    assert "trainerhub.request.db.duration" in receiver.metric_names()
    assert "trainerhub.request.db.queries" in receiver.metric_names()
    # Every span went to the receiver (the collector's spanmetrics would count them all):
    # the Django instrumentation's own duplicates of those metrics are not recorded.
    server_metrics = {"http.server.duration", "http.server.active_requests", "http.server.request.duration"}
    assert not server_metrics & receiver.metric_names(), receiver.metric_names()
