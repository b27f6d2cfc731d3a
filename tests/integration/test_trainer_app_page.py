"""The trainer app's page (apps.webapp) under gunicorn: the server span's trace context in the
page, for the browser's spans to join; the bundle served, and nothing else from its folder;
a clear answer when the bundle is not built; a clear error for a malformed FRONTEND_ORIGINS."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import FIXTURE, base_env, http, start_gunicorn

pytestmark = pytest.mark.integration


@pytest.fixture()
def dist(tmp_path: Path) -> Path:
    d = tmp_path / "dist"
    d.mkdir()
    (d / "trainer-app.js").write_text("console.log('the trainer app');\n")
    (d / "secret.txt").write_text("not to be served")
    return d


def test_the_page_carries_its_server_spans_trace_context_and_the_browser_settings(
        seeded_database: str, receiver: OtlpReceiver, log_dir: Path, dist: Path) -> None:
    endpoint = receiver.start_http()
    gunicorn, url = start_gunicorn(base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, FRONTEND_DIST=str(dist), FRONTEND_OTLP_URL="https://otel.example.com",
        FRONTEND_SENTRY_DSN="https://key@sentry.example.com/1", FRONTEND_SERVICE_NAME="trainerhub-web",
        FRONTEND_API_ORIGINS='["https://api.example.com"]'), log_dir, workers=1)
    try:
        status, body, headers = http("GET", url + "/trainer/?reset_token=abc", headers={"traceparent": f"00-{'ab' * 16}-{'cd' * 8}-01"})
        bundle = http("GET", url + "/trainer/static/trainer-app.js")
        others = [http("GET", url + path)[0] for path in ("/trainer/static/secret.txt", "/trainer/static/..%2Fsecret.txt", "/trainer/static/trainer-app.jsx")]
        page = receiver.wait_for(lambda spans: any(s.attributes.get("http.route") == "trainer/" for s in spans))
    finally:
        gunicorn.stop()
    assert status == 200 and headers["Content-Type"].startswith("text/html") and headers["Cache-Control"] == "no-store"
    html = body.decode()
    (meta,) = re.findall(r'<meta name="traceparent" content="00-([0-9a-f]{32})-([0-9a-f]{16})-0[0-3]">', html)
    (server,) = [s for s in page if s.attributes.get("http.route") == "trainer/"]
    assert meta == (server.trace_id, server.span_id) and server.trace_id == "ab" * 16, "the browser's parent is the page's own server span"
    config = json.loads(re.search(r'<script id="trainerhub-config" type="application/json">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert config == {"serviceName": "trainerhub-web", "collectorUrl": "https://otel.example.com", "apiOrigins": ["https://api.example.com"],
                      "route": "/trainer/", "environment": "development", "sentryDsn": "https://key@sentry.example.com/1"}
    assert bundle[0] == 200 and bundle[1] == b"console.log('the trainer app');\n" and "javascript" in bundle[2]["Content-Type"]
    assert others == [404, 404, 404]


def test_an_unbuilt_bundle_is_a_503_that_says_how_to_build_it(seeded_database: str, log_dir: Path, tmp_path: Path) -> None:
    gunicorn, url = start_gunicorn(base_env(FRONTEND_DIST=str(tmp_path / "nothing")), log_dir, workers=1)
    try:
        status, body, _ = http("GET", url + "/trainer/")
    finally:
        gunicorn.stop()
    assert status == 503 and b"npm --prefix frontend ci && npm --prefix frontend run build" in body


def test_a_malformed_frontend_origins_names_the_variable() -> None:
    env = base_env(FRONTEND_ORIGINS='["https://app.example.com",')
    done = subprocess.run([sys.executable, "-c", "import config.settings"], cwd=FIXTURE, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and 'FRONTEND_ORIGINS must be a list of origins like ["https://app.example.com"]' in done.stderr, done.stderr[-2000:]
