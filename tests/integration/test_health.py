"""Health endpoints on gunicorn with PostgreSQL and Redis healthy, stopped and hung."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import DATABASE_URL, REDIS_URL, base_env, free_port, http, start_gunicorn

pytestmark = pytest.mark.integration

GUIDE_KEYS = {"status", "timestamp", "version", "environment", "checks"}


@pytest.fixture()
def hung_port() -> Iterator[int]:
    """Accepts TCP connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


def _get(url: str, **kw) -> tuple[int, dict, float]:
    started = time.perf_counter()
    status, body, _ = http("GET", url, timeout=10, **kw)
    return status, json.loads(body), time.perf_counter() - started


def _start(log_dir: Path, name: str = "gunicorn", **env: str):
    return start_gunicorn(base_env(RELEASE_VERSION="v1.4.2", ENVIRONMENT="staging", HEALTH_CHECK_CACHE_SECONDS="0", **env), log_dir, workers=1, name=name)


def test_all_healthy_in_the_guides_shape(seeded_database, receiver: OtlpReceiver, log_dir: Path) -> None:
    endpoint = receiver.start_http()
    gunicorn, url = _start(log_dir, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, STRIPE_SECRET_KEY="sk_test_not_shown")
    try:
        status, body, _ = _get(url + "/health/")
        ready, ready_body, _ = _get(url + "/readiness/")
        live, live_body, _ = _get(url + "/liveness/")
        time.sleep(1)
    finally:
        gunicorn.stop()
    assert status == 200 and set(body) == GUIDE_KEYS
    assert body["status"] == "healthy" and body["version"] == "v1.4.2" and body["environment"] == "staging"
    assert body["timestamp"].endswith("Z")
    assert set(body["checks"]) == {"database", "redis", "celery_broker", "otel_collector", "sendgrid", "twilio", "stripe"}
    for name in ("database", "redis", "celery_broker", "otel_collector"):
        assert body["checks"][name] == {"status": "healthy", "message": "OK"}
    assert body["checks"]["stripe"] == {"status": "configured", "message": "API key configured"}
    assert body["checks"]["sendgrid"] == {"status": "not_configured", "message": "API key not configured"}
    assert "sk_test_not_shown" not in json.dumps(body)
    assert ready == 200 and ready_body["checks"]["migrations"]["status"] == "healthy"
    assert live == 200 and live_body["status"] == "alive"
    # Probes are neither traced nor request-logged.
    assert receiver.spans() == []
    assert not any('"message":"request"' in line for line in gunicorn.stdout_lines())


@pytest.mark.parametrize("broken", ["redis_stopped", "redis_hung", "postgres_stopped", "postgres_hung"])
def test_a_component_down_or_hung_gives_503_within_3_seconds(broken: str, seeded_database, hung_port: int, log_dir: Path) -> None:
    port = hung_port if broken.endswith("hung") else free_port()
    env = {}
    if broken.startswith("redis"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}"
    else:
        env["DATABASE_URL"] = DATABASE_URL.replace(":5432/", f":{port}/")
    gunicorn, url = _start(log_dir, **env)
    try:
        status, body, elapsed = _get(url + "/health/")
        live, _, live_elapsed = _get(url + "/liveness/")
        ready, _, _ = _get(url + "/readiness/")
        repeats = 5 if broken.endswith("stopped") else 0  # a load balancer probing on
        for _ in range(repeats):
            assert _get(url + "/health/")[0] == 503
    finally:
        gunicorn.stop()
    # one "health check failed" line a minute, however often the probe asks
    assert sum('"message":"health check failed"' in line for line in gunicorn.stdout_lines()) == 1
    assert status == 503 and body["status"] == "unhealthy"
    assert elapsed < 3.0, f"/health/ took {elapsed:.2f}s"
    failing = {"redis", "celery_broker"} if broken.startswith("redis") else {"database"}
    for name, check in body["checks"].items():
        if name in failing:
            assert check["status"] == "unhealthy" and check["message"], check
        elif name in ("database", "redis", "celery_broker"):
            assert check["status"] == "healthy", (name, check)
    if broken.endswith("hung"):
        assert any("timed out" in body["checks"][n]["message"] or "Timeout" in body["checks"][n]["message"] for n in failing), body
    assert live == 200 and live_elapsed < 1.0  # liveness touches no dependency
    assert ready == 503


def test_results_are_cached_for_a_few_seconds(seeded_database, log_dir: Path) -> None:
    gunicorn, url = start_gunicorn(base_env(HEALTH_CHECK_CACHE_SECONDS="30"), log_dir, workers=1)
    try:
        first = _get(url + "/health/")[1]["timestamp"]
        time.sleep(1.1)
        second = _get(url + "/health/")[1]["timestamp"]
    finally:
        gunicorn.stop()
    assert first == second


def test_readiness_fails_while_migrations_are_pending(services, log_dir: Path) -> None:
    import psycopg

    admin = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "trainerhub_unmigrated" WITH (FORCE)')
        conn.execute('CREATE DATABASE "trainerhub_unmigrated"')
    gunicorn, url = _start(log_dir, DATABASE_URL=DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub_unmigrated")
    try:
        status, body, _ = _get(url + "/readiness/")
        health, _, _ = _get(url + "/health/")
    finally:
        gunicorn.stop()
    assert status == 503 and body["checks"]["migrations"]["status"] == "unhealthy"
    assert "migrations not applied" in body["checks"]["migrations"]["message"]
    assert health == 200  # reachable, just not ready


def test_system_info_needs_the_monitoring_key_unless_debug(seeded_database, log_dir: Path) -> None:
    gunicorn, url = _start(log_dir, MONITORING_KEY="mk-correct-horse")
    debug, debug_url = _start(log_dir, name="gunicorn-debug", DJANGO_DEBUG="true")
    try:
        missing = http("GET", url + "/api/system-info/")
        wrong = http("GET", url + "/api/system-info/", headers={"X-Monitoring-Key": "mk-guess"})
        right = http("GET", url + "/api/system-info/", headers={"X-Monitoring-Key": "mk-correct-horse"})
        open_in_debug = http("GET", debug_url + "/api/system-info/")
    finally:
        gunicorn.stop()
        debug.stop()
    assert missing[0] == 401 and wrong[0] == 403
    assert right[0] == 200 and open_in_debug[0] == 200
    info = json.loads(right[1])
    assert set(info) == {"version", "environment", "debug", "database_engine", "cache_backend", "installed_apps", "middleware"}
    assert info["database_engine"] == "postgresql" and info["cache_backend"] == "redis" and info["debug"] is False
    assert "apps.bookings" in info["installed_apps"] and "SecurityMiddleware" in info["middleware"]
    assert "mk-correct-horse" not in right[1].decode() and "trainerhub:trainerhub" not in right[1].decode()
    assert json.loads(open_in_debug[1])["debug"] is True
    events = [json.loads(l) for l in gunicorn.stdout_lines() if "security_event" in l]
    assert [e["security_event"] for e in events] == ["system info: missing monitoring key", "system info: wrong monitoring key"]
    assert all(e["levelname"] == "WARNING" and e["remote_addr"] == "127.0.0.1" for e in events)


def test_health_check_disabled_removes_the_endpoints(seeded_database, log_dir: Path) -> None:
    gunicorn, url = start_gunicorn(base_env(HEALTH_CHECK_ENABLED="false"), log_dir, workers=1, ready_path="/api/ping/")
    try:
        codes = [http("GET", url + p)[0] for p in ("/health/", "/readiness/", "/liveness/", "/api/system-info/")]
    finally:
        gunicorn.stop()
    assert codes == [404, 404, 404, 404]
