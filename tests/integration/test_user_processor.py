"""A span processor the user adds through the standard OpenTelemetry API sees every span,
with the attributes docs/telemetry.md documents, as the collector does (issue 14: the lean
server span and the inline processors keep it an SDK pipeline)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import BIN, FIXTURE, base_env

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).parent / "data" / "user_processor.py"


# Our server-span middleware, and contrib's where only it has the feature (http.server.*
# metrics here): the same spans either way.
@pytest.mark.parametrize("server_metrics", ["auto", "on"], ids=["our middleware", "contrib's middleware"])
def test_a_users_span_processor_receives_every_span_with_its_attributes(
    seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, server_metrics: str
) -> None:
    env = base_env(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), PROVIDERS_BASE_URL=sandbox,
                   OTEL_TRAINERHUB_HTTP_SERVER_METRICS=server_metrics)
    result = subprocess.run([str(BIN / "python"), str(SCRIPT)], cwd=FIXTURE, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["statuses"] == ["200 OK", "200 OK", "200 OK", "404 Not Found"]
    first = "ServerSpanMiddleware" if server_metrics == "auto" else "_DjangoMiddleware"
    assert any(m.endswith(first) for m in seen["middleware"]), seen["middleware"]
    exported = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= 4)
    ended = {s["span_id"]: s for s in seen["ended"]}

    # Every span, no more, no fewer: what the collector received is what the processor saw end.
    assert sorted(ended) == sorted(s.span_id for s in exported)
    assert sorted(seen["started"]) == sorted(ended)
    servers = {s["name"]: s["attributes"] for s in seen["ended"] if s["kind"] == "SERVER"}
    assert set(servers) == {"GET api/ping/", "GET api/trainers/", "GET api/bookings/", "GET unmatched"}
    for name, attributes in servers.items():
        assert {"http.method", "http.scheme", "http.host", "http.url", "http.status_code", "trainerhub.db.query_count"} <= set(attributes), name
    assert servers["GET api/trainers/"]["http.route"] == "api/trainers/"
    assert servers["GET api/trainers/"]["trainerhub.n_plus_one.count"] == 8
    assert servers["GET api/bookings/"]["user.id"]
    assert "http.route" not in servers["GET unmatched"] and servers["GET unmatched"]["http.status_code"] == 404
    sql = [s["attributes"] for s in seen["ended"] if s["attributes"].get("db.system") == "postgresql"]
    assert len(sql) == sum(a["trainerhub.db.query_count"] for a in servers.values())
    # Ours ran first: the user's processor sees SQL without its literal values, as the exporter does.
    by_id = {s.span_id: s for s in exported}
    for span in seen["ended"]:
        assert span["attributes"] == by_id[span["span_id"]].attributes, span["name"]
