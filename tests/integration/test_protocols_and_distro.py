"""OTLP over gRPC from forked gunicorn workers, and start-up through `opentelemetry-instrument`."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import BIN, REDIS_URL, base_env, http, start_gunicorn

pytestmark = pytest.mark.integration


def test_grpc_export_from_preloaded_gunicorn_workers(seeded_database, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    env = base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_grpc(),
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        PROVIDERS_BASE_URL=sandbox,
        OTEL_METRIC_EXPORT_INTERVAL="600000",  # the gRPC receiver here takes traces only
    )
    gunicorn, url = start_gunicorn(env, log_dir, workers=3)
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda i: http("GET", f"{url}/api/trainers/{1 + i % 5}/schedule/")[0], range(30)))
        assert set(statuses) <= {200, 404}
        spans = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= 30, timeout=20)
    finally:
        gunicorn.stop()
    servers = [s for s in spans if s.kind == "SERVER"]
    assert len(servers) == 30
    assert {s.name for s in servers} == {"GET api/trainers/<int:trainer_id>/schedule/"}
    assert all(s.attributes["http.route"] == "api/trainers/<int:trainer_id>/schedule/" for s in servers)
    pids = {s.pid for s in servers}
    assert gunicorn.pid not in pids and len(pids) >= 2, pids
    assert "Traceback" not in gunicorn.output(), gunicorn.output()[-3000:]


def test_opentelemetry_instrument_loads_our_distro_and_configurator(services, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        "import otel_trainerhub, redis\n"
        "from opentelemetry import trace\n"
        "assert otel_trainerhub.is_configured(), 'the configurator did not run'\n"
        "with trace.get_tracer('app').start_as_current_span('job'):\n"
        f"    redis.Redis.from_url('{REDIS_URL}/3').set('k', 'v')\n"
        "otel_trainerhub.shutdown()\n"
    )
    result = subprocess.run(
        [str(BIN / "opentelemetry-instrument"), sys.executable, str(script)],
        env={**base_env(), "OTEL_TRAINERHUB_SPAN_FILE": str(tmp_path / "spans.jsonl"), "OTEL_SERVICE_NAME": "via-distro"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "already instrumented" not in result.stderr
    spans = [json.loads(line) for line in (tmp_path / "spans.jsonl").read_text().splitlines()]
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"job", "SET"}
    assert by_name["SET"]["parent_id"] == by_name["job"]["context"]["span_id"]
    assert by_name["job"]["resource"]["attributes"]["service.name"] == "via-distro"
