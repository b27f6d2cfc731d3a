"""Database monitoring on the real fixture and the real PostgreSQL (issue 17): statements that
name their route in PostgreSQL's own slow-statement log and in pg_stat_statements."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import DATABASE_URL, base_env, http, start_celery, start_gunicorn

pytestmark = pytest.mark.integration


def _postgres_log() -> Path:
    """The cluster's log file as pg_lsclusters reports it (.ci/services.sh's Debian cluster)."""
    port = DATABASE_URL.rsplit(":", 1)[1].split("/")[0]
    out = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[2] == port:
            return Path(fields[6])
    pytest.fail(f"no PostgreSQL cluster on port {port} in pg_lsclusters:\n{out}", pytrace=False)


def _comment(text: str) -> dict[str, str]:
    """The sqlcommenter pairs at the end of ``text``, decoded."""
    found = re.search(r"/\*((?:[\w.%-]+='[^']*',?)+)\*/\s*$", text)
    assert found, text
    return {k: unquote(v) for k, v in re.findall(r"([\w.%-]+)='([^']*)'", found.group(1))}


def _statements(database_url: str) -> list[tuple[str, int]]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()


def test_statements_name_their_route_in_the_servers_own_log_and_statistics(
    seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path
) -> None:
    log = _postgres_log()
    assert log.exists(), f"{log}: PostgreSQL's log is not there"
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
    def slow_lines() -> list[str]:
        with log.open(errors="replace") as f:
            f.seek(offset)
            return [line for line in f if "duration:" in line and "pg_sleep" in line]

    deadline = time.monotonic() + 30
    while not slow_lines() and time.monotonic() < deadline:
        time.sleep(0.5)
    (line,) = slow_lines()
    assert float(re.search(r"duration: ([\d.]+) ms", line).group(1)) >= 150, line
    assert _comment(line) == {"app": "analytics", "controller": "utilisation-report", "route": "api/reports/utilisation/"}, line

    # pg_stat_statements groups what the server ran by the route (or task) in the comment.
    by_route: dict[str, int] = {}
    for query, calls in _statements(seeded_database):
        if query.rstrip().endswith("*/"):
            pairs = _comment(query)
            key = pairs.get("route") or f"task:{pairs['task']}"
            by_route[key] = by_route.get(key, 0) + calls
    assert {"api/reports/utilisation/", "api/bookings/", "api/trainers/"} <= set(by_route), by_route
    assert any(k.startswith("task:") for k in by_route), by_route

    # The spans show the statements as the code wrote them: no comment, same fingerprints.
    statements = [s.attributes.get("db.statement") or s.attributes.get("db.query.text") for s in spans if s.kind == "CLIENT"]
    sql = [t for t in statements if t]
    assert sql and not any("/*" in t for t in sql), [t for t in sql if "/*" in t][:3]
