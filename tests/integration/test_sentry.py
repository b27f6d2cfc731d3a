"""Sentry: the real sentry-sdk sending to a local endpoint; events linked to the OTel trace, secrets removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.sentry_sink import SentrySink
from tests.support.stack import REDIS_URL, base_env, http, start_celery, start_gunicorn

pytestmark = pytest.mark.integration

# The card in full and its prefix with or without separators (a bare "4111" also turns up in timestamps).
PLANTED = ("4111 1111 1111 111x", "4111 1111", "41111111", "ana.sentry@example.com", "sk_live_sentry_header", "sessionid-sentry-cookie", "hunter2-sentry")


@pytest.fixture()
def sink():
    s = SentrySink()
    yield s
    s.stop()


def test_request_error_event_links_to_the_trace_and_carries_no_secret(seeded_database, clean_redis, receiver: OtlpReceiver, sink: SentrySink, sandbox, log_dir: Path, serve) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), SENTRY_DSN=sink.start(), PROVIDERS_BASE_URL=sandbox, ENVIRONMENT="staging", RELEASE_VERSION="v9.9.9")
    gunicorn, url = serve(env, log_dir, workers=2)
    try:
        status, _, _ = http(
            "POST",
            f"{url}/api/subscriptions/?password=hunter2-sentry",
            token="client-4",
            body={"plan": "pro", "card_number": "4111 1111 1111 111x", "email": "ana.sentry@example.com"},
            headers={"Cookie": "sessionid=sessionid-sentry-cookie", "X-Api-Key": "sk_live_sentry_header"},
        )
        assert status == 500
        sink.wait_for_events(1)
        spans = receiver.wait_for(lambda s: any(x.name == "POST api/subscriptions/" for x in s))
        (event,) = sink.events()  # the exception, once: not also its ERROR request line
        spans = receiver.wait_for(lambda s: any(x.name == "POST api/subscriptions/" for x in s))
    finally:
        gunicorn.stop()
    server = next(s for s in spans if s.name == "POST api/subscriptions/")
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError"
    assert event["environment"] == "staging" and event["release"] == "v9.9.9"
    # One trace id: OTel's. The event points at the span where it happened; the span points back.
    assert event["contexts"]["trace"]["trace_id"] == server.trace_id
    assert event["contexts"]["trace"]["span_id"] in {s.span_id for s in spans if s.trace_id == server.trace_id}
    assert server.attributes["sentry.event_id"] == event["event_id"]
    raw = sink.raw()
    for secret in PLANTED:
        assert secret not in raw, secret
    assert "client-4" not in raw  # the bearer token


def test_task_failing_in_a_prefork_child_is_captured(seeded_database, clean_redis, receiver: OtlpReceiver, sink: SentrySink, sandbox, log_dir: Path) -> None:
    from celery import Celery

    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), SENTRY_DSN=sink.start(), PROVIDERS_BASE_URL=sandbox)
    worker = start_celery(env, log_dir, concurrency=1, max_tasks_per_child=1)
    try:
        client = Celery(broker=f"{REDIS_URL}/0")
        client.send_task("apps.analytics.tasks.rollup_daily_stats", kwargs={"days": 0})
        (event,) = sink.wait_for_events(1, timeout=30)
        spans = receiver.wait_for(lambda s: any(x.name == "run/apps.analytics.tasks.rollup_daily_stats" for x in s), timeout=30)
    finally:
        worker.stop()
    run = next(s for s in spans if s.name == "run/apps.analytics.tasks.rollup_daily_stats")
    assert run.pid != worker.pid
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "ValueError" and "days must be at least 1" in exception["value"]
    assert event["contexts"]["trace"]["trace_id"] == run.trace_id
    assert run.attributes["sentry.event_id"] == event["event_id"]
    assert run.status == 2  # ERROR


def test_without_a_dsn_nothing_sentry_runs(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import otel_trainerhub.auto, sentry_sdk, sys; sys.exit(0 if not sentry_sdk.get_client().is_active() else 3)"],
        env={"PATH": "/usr/bin:/bin", "OTEL_TRACES_EXPORTER": "none"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
