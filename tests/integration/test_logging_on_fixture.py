"""Logs of the fixture under real gunicorn and a real Celery worker: JSON, correlated, redacted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.otlp import OtlpReceiver, _value
from tests.support.stack import base_env, http, json_records, start_celery, start_gunicorn

pytestmark = pytest.mark.integration

REQUEST_FIELDS = {"method", "path", "status_code", "duration_ms", "user_agent", "remote_addr", "user_id", "trainer_id"}
SECRETS = ("hunter2-secret", "ana.leak@example.com", "tok_live_query", "sk_live_header", "4111111111111111", "4111 1111 1111 1111", "sessionid-cookie-value")


def _json_lines(lines: list[str], who: str) -> list[dict[str, Any]]:
    records, not_json = json_records(lines)
    if not_json:
        pytest.fail(f"{who} wrote a line that is not JSON: {not_json[0]!r}")
    return records


def _otlp_log_records(receiver: OtlpReceiver) -> list[dict[str, Any]]:
    out = []
    for request in receiver.log_requests:
        for rl in request.resource_logs:
            for sl in rl.scope_logs:
                for r in sl.log_records:
                    out.append(
                        {
                            "body": _value(r.body),
                            "trace_id": r.trace_id.hex(),
                            "span_id": r.span_id.hex(),
                            "severity": r.severity_text,
                            "attributes": {kv.key: _value(kv.value) for kv in r.attributes},
                        }
                    )
    return out


def test_request_and_task_logs(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path, serve) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox, LOG_TRUSTED_PROXY_HEADER="X-Forwarded-For",
                   OTEL_TRAINERHUB_OTLP_LOG_LEVEL="INFO")
    gunicorn, url = serve(env, log_dir, workers=2)
    worker = start_celery(env, log_dir, concurrency=1)
    try:
        status, body, headers = http("GET", f"{url}/api/trainers/", headers={"X-Request-ID": "req-from-lb-42", "User-Agent": "pytest-agent/1.0", "X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
        assert status == 200 and headers["X-Request-ID"] == "req-from-lb-42"
        service = json.loads(body)["trainers"][0]["services"][0]["id"]
        status, _, headers = http("POST", f"{url}/api/bookings/", token="client-3", body={"service": service, "starts_at": f"2033-02-{1 + 10 * serve.keywords['asgi']:02d}T08:00:00+00:00"})
        assert status == 201
        generated_request_id = headers["X-Request-ID"]
        assert len(generated_request_id) == 32
        # Planted secrets: in the body, the query string, headers, an exception message.
        http("POST", f"{url}/api/users/register/?token=tok_live_query", body={"username": f"leaky-{serve.keywords['asgi']}", "password": "hunter2-secret", "email": "ana.leak@example.com"},
             headers={"Authorization": "Bearer sk_live_header", "Cookie": "sessionid=sessionid-cookie-value"})
        assert http("POST", f"{url}/api/subscriptions/", token="client-3", body={"plan": "pro", "card_number": "4111 1111 1111 111x"})[0] == 500
        assert http("POST", f"{url}/api/subscriptions/", token="client-3", body={"plan": "pro", "card_number": "4000 0000 0000 0002"})[0] == 402
        assert http("GET", f"{url}/api/bookings/")[0] == 401
        assert http("GET", f"{url}/api/bookings/", token="stolen-or-expired", headers={"X-Forwarded-For": "192.0.2.50"})[0] == 401

        def settled(spans: list) -> bool:
            return any(s.name.startswith("run/") for s in spans) and len([s for s in spans if s.kind == "SERVER"]) >= 7 and bool(receiver.log_requests)

        spans = receiver.wait_for(settled)
    finally:
        worker.stop()
        gunicorn.stop()
    web = _json_lines(gunicorn.stdout_lines(), "gunicorn")
    task = _json_lines(worker.stdout_lines(), "celery")
    span_ids = {(s.trace_id, s.span_id) for s in spans}

    # One request line per request, with exactly the guide's fields (plus the common keys).
    requests = [r for r in web if r["message"] == "request"]
    assert len(requests) == 7, [(r["method"], r["path"], r["status_code"]) for r in requests]
    for r in requests:
        assert REQUEST_FIELDS <= set(r)
        assert set(r) - REQUEST_FIELDS <= {"timestamp", "levelname", "name", "message", "trace_id", "span_id", "request_id"}
        assert (r["trace_id"], r["span_id"]) in span_ids
    directory = next(r for r in requests if r["path"] == "/api/trainers/")
    assert directory["request_id"] == "req-from-lb-42"
    assert directory["user_agent"] == "pytest-agent/1.0"
    assert directory["remote_addr"] == "203.0.113.9"  # the trusted proxy's hop, not the client's claim
    assert directory["levelname"] == "INFO" and directory["status_code"] == 200
    booking = next(r for r in requests if r["path"] == "/api/bookings/" and r["method"] == "POST")
    assert booking["user_id"] is not None and booking["request_id"] == generated_request_id
    failed = next(r for r in requests if r["status_code"] == 500)
    assert failed["levelname"] == "ERROR"

    # Every line inside a request carries the request's trace, span and request ids.
    inside = [r for r in web if "request_id" in r]
    assert all((r["trace_id"], r["span_id"]) in span_ids for r in inside)
    assert any(r["message"] == "booking created" and r["request_id"] == generated_request_id for r in web)
    # Lines logged in the view already carry the user the view authenticated (not only the
    # request line written after the response), and so do the lines of the task it enqueued.
    created = next(r for r in web if r["message"] == "booking created" and r["request_id"] == generated_request_id)
    assert created["user_id"] == booking["user_id"] is not None
    assert any(r["name"] == "django.request" and r["levelname"] == "ERROR" and "exception" in r for r in web)
    (rejected,) = [r for r in web if r.get("security_event") == "authentication failed"]
    assert rejected["levelname"] == "WARNING" and rejected["remote_addr"] == "192.0.2.50" and rejected["path"] == "/api/bookings/"
    assert rejected["name"] == "otel_trainerhub.security" and "request_id" in rejected
    # Django's own response log lines ("Unauthorized: ...") come after the middleware chain, and still belong to their request.
    django_lines = [r for r in web if r["name"] == "django.request"]
    assert len(django_lines) == 4 and all("request_id" in r and (r["trace_id"], r["span_id"]) in span_ids for r in django_lines)
    assert any(r["message"] == "Unauthorized: /api/bookings/" for r in django_lines)
    # Outside any request, nothing is carried over.
    assert all("request_id" not in r for r in web if r["name"] == "gunicorn.error")

    # The task's lines: its own ids, and the request's context carried across the broker.
    task_lines = [r for r in task if r.get("task_name") == "apps.notifications.tasks.send_booking_confirmation"]
    assert task_lines
    run = next(s for s in spans if s.name.startswith("run/"))
    for r in task_lines:
        assert r["task_id"] and r["request_id"] == generated_request_id
        assert r["trace_id"] == run.trace_id
        assert r["user_id"] == booking["user_id"]  # the user the view authenticated, carried to the task
    assert all("trace_id" in r for r in task_lines)

    # The same records over OTLP, with trace context.
    otlp = _otlp_log_records(receiver)
    exported = [r for r in otlp if r["body"] == "request"]
    assert len(exported) == 7
    assert all((r["trace_id"], r["span_id"]) in span_ids for r in exported)

    everything = "\n".join([*gunicorn.stdout_lines(), *worker.stdout_lines(), gunicorn.output(), json.dumps(otlp)])
    everything += json.dumps([s.attributes for s in spans]) + json.dumps([s.events for s in spans])
    for secret in SECRETS:
        assert secret not in everything, secret


def test_a_tasks_print_output_and_the_start_up_banner_are_json_lines_too(seeded_database, clean_redis, sandbox, log_dir: Path) -> None:
    # Celery redirects a worker's stdout and stderr to its logging (worker_redirect_stdouts);
    # taking over its logging must keep that, or print() and Django's console e-mail backend
    # write raw text between the JSON lines.
    import time

    from celery import Celery

    from tests.support.stack import REDIS_URL

    # Without --quiet, as a worker is usually run: Celery's start-up banner is a line too.
    worker = start_celery(base_env(PROVIDERS_BASE_URL=sandbox), log_dir, concurrency=1, quiet=False)
    client = Celery(broker=f"{REDIS_URL}/0", backend=f"{REDIS_URL}/2")
    try:
        result = client.send_task("apps.core.tasks.say", args=["printed by a task"])
        deadline = time.monotonic() + 60
        while not result.ready():
            assert time.monotonic() < deadline, worker.output()[-3000:]
            time.sleep(0.05)
        assert result.successful()
    finally:
        worker.stop()
        client.close()
    lines = _json_lines(worker.stdout_lines(), "celery")
    printed = [r for r in lines if r["message"] == "printed by a task"]
    assert len(printed) == 1 and printed[0]["name"] == "celery.redirected", printed
    assert printed[0]["task_name"] == "apps.core.tasks.say"  # inside the task: its context too
    (banner,) = [r for r in lines if r["message"] == "celery worker starting"]
    assert banner["levelname"] == "INFO" and "concurrency:" in banner["banner"] and "redis://" in banner["banner"]
