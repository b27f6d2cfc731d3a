"""Database monitoring on the real fixture and the real PostgreSQL (issue 17): statements that
name their route in PostgreSQL's own slow-statement log and in pg_stat_statements."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.postgres import postgres_log, slow_statements, sql_comment
from tests.support.stack import BIN, DATABASE_URL, FIXTURE, base_env, http, start_celery, start_gunicorn

pytestmark = pytest.mark.integration


def _statements(database_url: str) -> list[tuple[str, int]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()


def _reset_statements(database_url: str) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset(dbid => (SELECT oid FROM pg_database WHERE datname = current_database()))")


def test_statements_name_their_route_in_the_servers_own_log_and_statistics(
    seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path
) -> None:
    log = postgres_log()
    assert log.exists(), f"{log}: PostgreSQL's log is not there"
    # pg_stat_statements keeps the first text it saw for a statement (its id ignores comments),
    # and earlier tests in this session ran the same statements without one.
    _reset_statements(seeded_database)
    offset = log.stat().st_size
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox, OTEL_TRAINERHUB_SQL_COMMENTS="route")
    gunicorn, url = start_gunicorn(env, log_dir, workers=1)
    worker = start_celery(env, log_dir, concurrency=1)
    try:
        assert http("GET", f"{url}/api/reports/utilisation/")[0] == 200
        assert http("GET", f"{url}/api/bookings/", token="client-1")[0] == 200
        status, body, _ = http("GET", f"{url}/api/trainers/")
        service = json.loads(body)["trainers"][0]["services"][0]["id"]
        assert http("POST", f"{url}/api/bookings/", token="client-3", body={"service": service, "starts_at": "2033-02-07T09:00:00+00:00"})[0] == 201
        spans = receiver.wait_for(lambda s: any(x.name.startswith("run/") for x in s) and len([x for x in s if x.kind == "SERVER"]) >= 4)
    finally:
        worker.stop()
        gunicorn.stop()

    # PostgreSQL logged the slow statement (over log_min_duration_statement, 100 ms) with the
    # route, view and app that sent it; its literal values are PostgreSQL's business, the
    # statement's parameters are not logged (log_parameter_max_length = 0).
    deadline = time.monotonic() + 30
    while not slow_statements(log, offset, "pg_sleep") and time.monotonic() < deadline:
        time.sleep(0.5)
    (line,) = slow_statements(log, offset, "pg_sleep")
    assert float(re.search(r"duration: ([\d.]+) ms", line).group(1)) >= 150, line
    assert sql_comment(line) == {"app": "analytics", "controller": "utilisation-report", "route": "api/reports/utilisation/"}, line

    # pg_stat_statements groups what the server ran by the route (or task) in the comment.
    by_route: dict[str, int] = {}
    for query, calls in _statements(seeded_database):
        if query.rstrip().endswith("*/"):
            pairs = sql_comment(query)
            key = pairs.get("route") or f"task:{pairs['task']}"
            by_route[key] = by_route.get(key, 0) + calls
    assert {"api/reports/utilisation/", "api/bookings/", "api/trainers/"} <= set(by_route), by_route
    assert any(k.startswith("task:") for k in by_route), by_route

    # The spans show the statements as the code wrote them: no comment, same fingerprints.
    statements = [s.attributes.get("db.statement") or s.attributes.get("db.query.text") for s in spans if s.kind == "CLIENT"]
    sql = [t for t in statements if t]
    assert sql and not any("/*" in t for t in sql), [t for t in sql if "/*" in t][:3]


def _latest(receiver: OtlpReceiver, name: str) -> dict[tuple[str, ...], float]:
    """The last value of each of ``name``'s series, by process and point attributes."""
    out: dict[tuple[str, ...], float] = {}
    for resource, attributes, value in receiver.metric_points(name):
        out[(str(resource.get("process.pid")), *sorted(f"{k}={v}" for k, v in attributes.items()))] = value
    return out


def test_persistent_connections_are_opened_once_and_reused(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox)
    gunicorn, url = start_gunicorn(env, log_dir, workers=1)  # the fixture's CONN_MAX_AGE = 600
    try:
        for _ in range(5):
            assert http("GET", f"{url}/api/trainers/")[0] == 200
    finally:
        gunicorn.stop()  # flushes the metrics
    opened, reused = _latest(receiver, "trainerhub.db.connections.opened"), _latest(receiver, "trainerhub.db.connections.reused")
    assert list(opened.values()) == [1], opened  # one worker, one connection for all five requests
    assert list(reused.values()) == [4], reused
    assert list(_latest(receiver, "db.client.connection.create_time").values()) == [1]
    assert all("db.client.connection.pool.name=default" in key for key in (*opened, *reused))


def test_pool_exhaustion_shows_as_waiting_a_timeout_and_an_error_span(seeded_database, receiver: OtlpReceiver, sandbox) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox,
                   DATABASE_POOL_MAX_SIZE="1", DATABASE_POOL_TIMEOUT="0.5")
    script = Path(__file__).parent / "data" / "pool_exhaustion.py"
    result = subprocess.run([str(BIN / "python"), str(script)], cwd=FIXTURE, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["statuses"] == ["200 OK", "500 Internal Server Error", "200 OK"]

    pool = "db.client.connection.pool.name=default"
    # While the request waited: the only connection in use, one request waiting.
    waiting = [v for _, a, v in receiver.metric_points("db.client.connection.pending_requests") if a == {"db.client.connection.pool.name": "default"}]
    assert 1 in waiting, waiting
    used = [v for _, a, v in receiver.metric_points("db.client.connection.count") if a.get("db.client.connection.state") == "used"]
    assert 1 in used, used
    assert {v for _, a, v in receiver.metric_points("db.client.connection.max")} == {1}
    assert list(_latest(receiver, "db.client.connection.timeouts").values()) == [1]
    (waits,) = [v for k, v in _latest(receiver, "db.client.connection.wait_time").items() if pool in k]
    assert waits >= 3  # every check-out, the one that timed out among them
    # The request that timed out: a server span with error status and the error's type, and
    # nothing of the connection's secrets in its text.
    spans = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= 3)
    (failed,) = [s for s in spans if s.kind == "SERVER" and s.attributes.get("http.status_code") == 500]
    assert failed.status == 2, failed  # STATUS_CODE_ERROR
    (event,) = [e for e in failed.events if e["name"] == "exception"]
    assert event["exception.type"].endswith("OperationalError"), event
    assert "couldn't get a connection" in event["exception.message"], event
    text = json.dumps(event) + failed.status_message
    assert "trainerhub:trainerhub" not in text and "password" not in text.lower()


def test_a_failing_statement_and_a_refused_connection_are_error_spans_counted_and_secret_free(
    seeded_database, clean_redis, receiver: OtlpReceiver, sandbox
) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox)
    script = Path(__file__).parent / "data" / "database_faults.py"
    result = subprocess.run([str(BIN / "python"), str(script)], cwd=FIXTURE, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["statuses"] == ["200 OK", "IntegrityError", "500 Internal Server Error", "200 OK"]
    spans = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= 3 and any(x.name == "import contacts" for x in s))

    # The failing statement: its span has error status and the driver's error type; the
    # e-mail address PostgreSQL put in the message is masked everywhere.
    (failed,) = [s for s in spans if s.kind == "CLIENT" and s.status == 2]
    (event,) = [e for e in failed.events if e["name"] == "exception"]
    assert event["exception.type"].endswith("UniqueViolation"), event
    assert "duplicate key" in event["exception.message"]
    assert "ana.secret@example.com" not in json.dumps([(s.attributes, s.events, s.status_message) for s in spans])

    # The refused connection: a 500 whose server span has the OperationalError, counted by type.
    (refused,) = [s for s in spans if s.kind == "SERVER" and s.attributes.get("http.status_code") == 500]
    assert refused.status == 2
    (event,) = [e for e in refused.events if e["name"] == "exception"]
    assert event["exception.type"].endswith("OperationalError") and "trainerhub:trainerhub" not in json.dumps(event)
    failures = _latest(receiver, "trainerhub.db.connections.failed")
    assert list(failures.values()) == [1], failures
    assert any("error.type=psycopg.OperationalError" in key for key in failures), failures


ROUTE = "api/trainers/<int:trainer_id>/schedule/"
ROUTE_SPAN = f"GET {ROUTE}"


def test_cache_hits_and_misses_by_route(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    """A trainer's schedule is cached for 30 s: the first request misses, the second hits."""
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox)
    gunicorn, url = start_gunicorn(env, log_dir, workers=1)
    try:
        trainer = json.loads(http("GET", f"{url}/api/trainers/")[1])["trainers"][0]["id"]
        for _ in range(2):
            assert http("GET", f"{url}/api/trainers/{trainer}/schedule/")[0] == 200
        spans = receiver.wait_for(lambda s: len([x for x in s if x.name == ROUTE_SPAN]) == 2)
    finally:
        gunicorn.stop()
    first, second = sorted((s for s in spans if s.name == ROUTE_SPAN), key=lambda s: s.start_ns)
    assert (first.attributes["trainerhub.cache.hits"], first.attributes["trainerhub.cache.misses"]) == (0, 1)
    assert (second.attributes["trainerhub.cache.hits"], second.attributes["trainerhub.cache.misses"]) == (1, 0)
    gets = [s for s in spans if s.name == "GET" and s.parent_id in (first.span_id, second.span_id)]
    assert sorted(s.attributes["trainerhub.cache.hits"] for s in gets) == [0, 1]
    assert "trainerhub.cache.hits" not in next(s for s in spans if s.name == "GET api/trainers/").attributes  # no lookup there
    lookups = {(a["trainerhub.route"], a["trainerhub.cache.result"]): v for _, a, v in receiver.metric_points("trainerhub.cache.lookups")}
    assert lookups == {(ROUTE, "miss"): 1, (ROUTE, "hit"): 1}, lookups
