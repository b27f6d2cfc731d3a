"""A collector that is down, hangs or refuses never blocks a request; what is lost is counted."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import base_env, free_port, http, start_gunicorn

pytestmark = pytest.mark.integration

EXPORT_TIMEOUT_S = 2
REQUESTS = 150
SUMMARY = re.compile(r"otel_trainerhub: process (\d+) exported (\d+) spans and dropped (\d+) \(([^)]*)\)")


def _drive(url: str) -> list[float]:
    latencies = []
    for i in range(REQUESTS):
        started = time.perf_counter()
        status, _, _ = http("GET", f"{url}/api/ping/?i={i}", timeout=EXPORT_TIMEOUT_S * 5)
        latencies.append(time.perf_counter() - started)
        assert status == 200
    return latencies


def _env(endpoint: str, sandbox: str, **extra: str) -> dict[str, str]:
    return base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT=str(EXPORT_TIMEOUT_S),
        OTEL_BSP_MAX_QUEUE_SIZE="32",
        OTEL_BSP_MAX_EXPORT_BATCH_SIZE="8",
        PROVIDERS_BASE_URL=sandbox,
        **extra,
    )


@pytest.mark.parametrize("collector", ["closed_port", "blackhole"])
def test_unreachable_collector_neither_blocks_requests_nor_loses_spans_silently(
    collector: str, blackhole: str, seeded_database, sandbox, log_dir: Path
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}" if collector == "closed_port" else blackhole
    gunicorn, url = start_gunicorn(_env(endpoint, sandbox), log_dir, workers=2)
    try:
        latencies = _drive(url)
    finally:
        gunicorn.stop()
    # No request waited for an export: each would have taken the exporter's timeout.
    assert max(latencies) < EXPORT_TIMEOUT_S / 2, f"slowest request {max(latencies):.3f}s"
    output = gunicorn.output()
    assert "otel_trainerhub dropped telemetry:" in output, output[-3000:]
    # Each worker's exit summary accounts for every span it made: one per request.
    summaries = SUMMARY.findall(output)
    assert summaries, output[-3000:]
    assert sum(int(exported) for _, exported, _, _ in summaries) == 0
    assert sum(int(dropped) for _, _, dropped, _ in summaries) == REQUESTS, summaries


def test_refused_spans_are_counted_in_a_metric(seeded_database, sandbox, log_dir: Path) -> None:
    receiver = OtlpReceiver(refuse_traces_status=400)
    env = _env(receiver.start_http(), sandbox)
    gunicorn, url = start_gunicorn(env, log_dir, workers=1)
    try:
        for i in range(20):
            assert http("GET", f"{url}/api/ping/?i={i}")[0] == 200

        def reported(_spans: object) -> bool:
            points = receiver.metric_points("trainerhub.telemetry.spans.dropped")
            return any(attrs.get("reason") == "export_failed" and value >= 20 for _, attrs, value in points)

        receiver.wait_for(reported, timeout=15)
    finally:
        gunicorn.stop()
        receiver.stop()
    assert receiver.spans() == []
    points = receiver.metric_points("trainerhub.telemetry.spans.dropped")
    # Every process reports every reason, from 0; the drops are the worker's, not the master's.
    assert {attrs["reason"] for _, attrs, _ in points} >= {"queue_full", "export_failed", "shutdown_timeout"}
    dropping_pids = {resource["process.pid"] for resource, _, value in points if value > 0}
    assert dropping_pids and gunicorn.pid not in dropping_pids
