"""The whole telemetry path with the real binaries: the fixture under gunicorn and a Celery
worker, the TrainerHub collector, Jaeger v2, Prometheus and the exporters, started by
``bin/stack up`` exactly as people start it. Sentry's ingest is a local HTTP endpoint
this test controls.

Every request the test makes carries a ``traceparent`` it chose, so it knows the trace id
of each one and can ask Jaeger for it.
"""

from __future__ import annotations

import json
import re
import os
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import chromium
from tests.support.otlp import Span, decode_traces
from tests.support.postgres import postgres_log, slow_statements, sql_comment
from tests.support.promql import ONLY_AFTER_A_FAILURE, dashboard_expressions, metric_name, rule_expressions, selectors
from tests.support.sentry_sink import SentrySink
from tests.support.stack import ROOT, wait_until
from tests.support.trainer_app import ForeignOrigin, fetch_from, visit

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # a cold machine builds the collector and Jaeger first

JAEGER = "http://127.0.0.1:16686"
PROMETHEUS = "http://127.0.0.1:9090"
APP = "http://127.0.0.1:8000"
TAIL_SHARE = 0.5  # TAIL_SAMPLING_PERCENT below
FAST_BURST = 200
SENTRY_KEY = "e2e-public-key"
SENTRY_PROJECT = "4242"
BROWSER_SENTRY_KEY = "e2ebrowserkey"  # the browser SDK takes word characters only
PAGE_VISITS = 10  # page views at a 50% tail-sampling share: at least one kept but for 1 in 1024 runs
INTAKE = "http://127.0.0.1:4328"  # the browsers' intake (nginx, rate-limited) in front of the collector's :4329

# Planted secrets: none of these may reach Jaeger, Prometheus or the Sentry endpoint.
PLANTED_CARD = "4111111111111111"
PLANTED = {
    "card": PLANTED_CARD,
    "spaced card": "4111 1111 1111 1111",
    "query token": "planted-query-token-71f3",
    "cookie": "planted-cookie-9c2e",
    "bearer": "planted-bearer-5a0d",
    "password attribute": "planted-raw-password-33b1",
    "page query token": "planted-page-token-8d41",
}


def new_traceparent() -> tuple[str, str]:
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


def jaeger_trace(trace_id: str) -> list[dict[str, Any]] | None:
    response = requests.get(f"{JAEGER}/api/traces/{trace_id}", timeout=5)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    data = response.json()["data"]
    if not data:
        return None
    trace = data[0]
    for span in trace["spans"]:
        span["tagmap"] = {t["key"]: t["value"] for t in span["tags"]}
        process = trace["processes"][span["processID"]]
        span["service"] = process["serviceName"]
        span["resource"] = {t["key"]: t["value"] for t in process["tags"]}
    return list(trace["spans"])


def prom_query(expr: str) -> list[dict[str, Any]]:
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def prom_value(expr: str) -> float | None:
    result = prom_query(expr)
    return float(result[0]["value"][1]) if result else None


@dataclass
class Driven:
    service: str
    sink: SentrySink
    stack_dir: Path
    booking_traces: list[str] = field(default_factory=list)
    flagged: dict[str, str] = field(default_factory=dict)  # what -> trace id
    fast: list[str] = field(default_factory=list)
    ping_requests: int = 0
    planted_traces: list[str] = field(default_factory=list)
    raw_trace: str = ""
    page_traces: list[str] = field(default_factory=list)  # the trainer app's page views in Chromium
    page_error_trace: str = ""  # the page view that threw (with a planted query string)
    env: dict[str, str] = field(default_factory=dict)  # what `bin/stack up` ran with
    postgres_log_offset: int = 0  # PostgreSQL's log before the traffic


def _without_telemetry_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_"))}


def _stack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(ROOT / "bin/stack"), command], env=env, text=True, capture_output=True, timeout=3600)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driven]:
    sink = SentrySink()
    sink.start()
    stack_dir = tmp_path_factory.mktemp("stack")
    service = f"trainerhub-e2e-{secrets.token_hex(3)}"
    base = f"http://127.0.0.1:{sink.port}/api/{SENTRY_PROJECT}/integration/otlp/v1"
    env = _without_telemetry_settings() | {
        "TRAINERHUB_STACK_DIR": str(stack_dir),
        "OTEL_SERVICE_NAME": service,
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_METRIC_EXPORT_INTERVAL": "2000",
        "SENTRY_OTLP_TRACES_ENDPOINT": f"{base}/traces",
        "SENTRY_OTLP_LOGS_ENDPOINT": f"{base}/logs",
        "SENTRY_OTLP_AUTH": f"sentry sentry_key={SENTRY_KEY}, sentry_version=7",
        "TAIL_SAMPLING_PERCENT": str(int(TAIL_SHARE * 100)),
        "TAIL_SAMPLING_DECISION_WAIT": "3s",
        "SPANMETRICS_FLUSH_INTERVAL": "5s",
        "INFRA_SCRAPE_INTERVAL": "5s",
        "SLOW_REQUEST_THRESHOLD": "0.5",
        "REPORT_DELAY_SECONDS": "0.8",
        "FRONTEND_SERVICE_NAME": f"{service}-web",
        "FRONTEND_SENTRY_DSN": f"http://{BROWSER_SENTRY_KEY}@127.0.0.1:{sink.port}/{SENTRY_PROJECT}",
    }
    up = _stack("up", env)
    try:
        if up.returncode != 0:
            pytest.fail(f"bin/stack up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}\n{_logs(stack_dir)}", pytrace=False)
        driven = Driven(service=service, sink=sink, stack_dir=stack_dir, env=env, postgres_log_offset=postgres_log().stat().st_size)
        _drive(driven)
        yield driven
    finally:
        down = _stack("down", env)
        sink.stop()
        print(up.stdout, down.stdout, down.stderr)


def _logs(stack_dir: Path) -> str:
    out = []
    for log in sorted((stack_dir / "logs").glob("*.log")):
        out.append(f"--- {log.name} (last 20 lines)\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
    return "\n".join(out)


def _drive(d: Driven) -> None:
    session = requests.Session()

    def call(method: str, path: str, token: str | None = None, expect: int | None = None, **kwargs: Any) -> str:
        trace_id, traceparent = new_traceparent()
        headers = {"traceparent": traceparent, **kwargs.pop("headers", {})}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = session.request(method, APP + path, headers=headers, timeout=30, **kwargs)
        assert expect is None or response.status_code == expect, (method, path, response.status_code, response.text[:300])
        return trace_id

    # The fixture's own traffic script: every endpoint, as the seeded users.
    rounds = 6
    traffic = subprocess.run(
        [sys.executable, str(ROOT / "app_fixture/traffic.py"), "--base-url", APP, "--rounds", str(rounds)],
        capture_output=True, text=True, timeout=300,
    )
    assert traffic.returncode == 0, traffic.stderr
    d.ping_requests += rounds

    # Bookings created with known trace ids (20, so that some survive a 50% share for sure).
    trainers = session.get(f"{APP}/api/trainers/", timeout=30).json()["trainers"]
    services = [s["id"] for t in trainers for s in t["services"]]
    first_day = datetime(2031, 1, 1, 8, tzinfo=timezone.utc) + timedelta(days=secrets.randbelow(20_000))  # a free slot on every run
    for i in range(20):
        starts = (first_day + timedelta(days=i)).isoformat()
        d.booking_traces.append(
            call("POST", "/api/bookings/", f"client-{1 + i}", expect=201, json={"service": services[i % len(services)], "starts_at": starts})
        )

    # The tail-sampling burst: fast requests, then one slow, one N+1 and one failing request.
    for _ in range(FAST_BURST):
        d.fast.append(call("GET", "/api/ping/"))
    d.ping_requests += FAST_BURST
    d.flagged["slow"] = call("GET", "/api/reports/revenue/", expect=200)
    d.flagged["n_plus_one"] = call("GET", "/api/trainers/", expect=200)
    d.flagged["slow_query"] = call("GET", "/api/reports/utilisation/", expect=200)  # one statement over 0.1 s
    booking_id = session.get(f"{APP}/api/bookings/", headers={"Authorization": "Bearer client-1"}, timeout=30).json()["results"][0]["id"]
    d.flagged["error"] = call("GET", f"/api/bookings/{booking_id}/invoice/", "client-1", expect=500)

    # Planted secrets, through the application...
    d.planted_traces.append(
        call("GET", f"/api/trainers/?token={PLANTED['query token']}&card={PLANTED_CARD}",
             headers={"Cookie": f"sessionid={PLANTED['cookie']}", "Authorization": f"Bearer {PLANTED['bearer']}"})
    )
    d.planted_traces.append(
        call("POST", "/api/subscriptions/", "client-2", json={"plan": "pro", "card_number": PLANTED["spaced card"] + "x"})
    )
    # ...and straight to the collector, past the application's own redaction: the collector's
    # redaction processor is the second line of defence.
    d.raw_trace = _send_raw_span(d.service)
    _drive_browser(d)

    # What the alerts and dashboards also watch: a registration (the traffic script's names
    # repeat between runs on one database), a failing Celery task, a database backup.
    call("POST", "/api/users/register/", expect=201, json={"username": f"e2e-{secrets.token_hex(6)}", "password": "correct horse battery staple"})
    app_env = _without_telemetry_settings() | {
        "PYTHONPATH": str(ROOT / "app_fixture"), "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": "postgres://trainerhub:trainerhub@127.0.0.1:5432/trainerhub", "REDIS_URL": "redis://127.0.0.1:6379",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": d.service, "TRAINERHUB_VAR_DIR": str(d.stack_dir / "app"),
    }
    for argv in (["-c", "import django; django.setup(); from apps.analytics.tasks import rollup_daily_stats as t; t.delay(0); t.delay(1)"],
                 ["manage.py", "backup_database"]):
        done = subprocess.run([sys.executable, *argv], cwd=ROOT / "app_fixture", env=app_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]


def _drive_browser(d: Driven) -> None:
    """People on the trainer app (/trainer/, frontend/'s bundle) in Chromium: page views that
    list the bookings and click Refresh, then one with a secret in its query string whose
    button throws. Leaving each page sends its telemetry (and makes LCP, CLS and INP final)."""
    with chromium(d.stack_dir / "chromium-visits") as driver:
        d.page_traces = [visit(driver, APP, "client-1") for _ in range(PAGE_VISITS)]
        d.page_error_trace = visit(driver, APP, "client-1", query=f"reset_token={PLANTED['page query token']}&page=1", throw=True)
        # Each page view sends its metrics once, as it is left; the browser must not be closed first.
        intake_log = d.stack_dir / "logs/browser-intake.log"
        wait_until("every page view's metrics at the intake", lambda: intake_log.read_text().count('"POST /v1/metrics" 200') >= PAGE_VISITS + 1, timeout=60)
    d.planted_traces.append(d.page_error_trace)


def _send_raw_span(service: str) -> str:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint="http://127.0.0.1:4318/v1/traces")))
    with provider.get_tracer("e2e").start_as_current_span("GET raw/card", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.route", f"raw/card/{PLANTED_CARD}")
        span.set_attribute("http.request.method", "GET")
        span.set_attribute("user.password", PLANTED["password attribute"])
        span.set_attribute("note", f"card {PLANTED['spaced card']}")
        span.record_exception(ValueError(f"card {PLANTED_CARD}x declined"))
        span.set_status(Status(StatusCode.ERROR, f"ValueError: card {PLANTED['spaced card']}x declined"))
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


# --- Jaeger -------------------------------------------------------------------------------


def test_jaeger_serves_its_real_web_ui(stack: Driven) -> None:
    sys.path.insert(0, str(ROOT / "monitoring"))
    from stack import JAEGER_UI_DEFAULT, jaeger_ui_assets

    if jaeger_ui_assets() is None:
        message = f"no Jaeger UI build at {JAEGER_UI_DEFAULT} (the stack serves Jaeger's placeholder page)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    for path in ("/", "/search", f"/trace/{stack.flagged['n_plus_one']}"):  # the UI's own routes all serve it
        page = requests.get(JAEGER + path, timeout=10)
        assert page.status_code == 200 and "<title>Jaeger UI</title>" in page.text, (path, page.text[:300])
        assert "not the Jaeger UI you are looking for" not in page.text
    # Its scripts come from the same place (relative to <base href="/">).
    scripts = [src for src in re.findall(r'src="\./(static/[^"]+\.js)"', page.text)]
    assert scripts, page.text[:2000]
    script = requests.get(f"{JAEGER}/{scripts[0]}", timeout=10)
    assert script.status_code == 200 and "javascript" in script.headers.get("Content-Type", ""), script.headers


def test_booking_trace_in_jaeger_has_every_hop_and_the_attribution(stack: Driven) -> None:
    operation = "POST api/bookings/"

    def ours_in_search() -> list[str]:
        found = requests.get(f"{JAEGER}/api/traces", params={"service": stack.service, "operation": operation, "limit": 100, "lookback": "1h"},
                             timeout=10).json()["data"]
        return [t["traceID"] for t in found if t["traceID"] in stack.booking_traces]

    known = wait_until("our booking traces in Jaeger's search by service and operation", ours_in_search, timeout=60)

    def complete(trace_id: str) -> list[dict[str, Any]] | None:
        spans = jaeger_trace(trace_id)
        return spans if spans and any(s["operationName"].startswith("run/") for s in spans) and any(_is_email_call(s) for s in spans) else None

    spans = wait_until("a booking trace with its Celery run and the e-mail call", lambda: next(filter(None, map(complete, known)), None))
    names = [s["operationName"] for s in spans]
    root = next(s for s in spans if s["operationName"] == operation)
    assert root is _trace_root(spans), "the Django span is the trace's root (its parent is the test's remote one)"
    assert root["tagmap"]["span.kind"] == "server" and root["tagmap"]["http.route"] == "api/bookings/"
    sql = [s for s in spans if s["tagmap"].get("db.system") == "postgresql" or s["tagmap"].get("db.system.name") == "postgresql"]
    cache = [s for s in spans if s["tagmap"].get("db.system") == "redis" or s["tagmap"].get("db.system.name") == "redis"]
    assert sql and cache, names
    assert any(n == "apply_async/apps.notifications.tasks.send_booking_confirmation" for n in names), names
    run = next(s for s in spans if s["operationName"] == "run/apps.notifications.tasks.send_booking_confirmation")
    assert run["tagmap"]["span.kind"] == "consumer"
    outbound = next(s for s in spans if _is_email_call(s))
    assert _local_root(spans, outbound) is run, "the e-mail provider call is the worker's"
    # Attribution on the request's root (the queries and Redis commands of the request itself).
    own_sql = [s for s in sql if _local_root(spans, s) is root]
    assert root["tagmap"]["trainerhub.db.query_count"] == len(own_sql) > 0
    assert root["tagmap"]["trainerhub.db.duration_ms"] > 0
    assert root["tagmap"]["trainerhub.cache.command_count"] >= 1
    assert 0 < root["tagmap"]["trainerhub.db.duration_ratio"] <= 1
    # The worker's root carries its own.
    assert run["tagmap"]["trainerhub.db.query_count"] >= 1 and run["tagmap"]["trainerhub.http_client.request_count"] == 1
    # Two processes: gunicorn's and the worker's, with the same service name.
    assert {s["service"] for s in spans} == {stack.service}
    assert root["resource"]["process.pid"] != run["resource"]["process.pid"]
    assert root["resource"]["service.instance.id"] != run["resource"]["service.instance.id"]


def _trace_root(spans: list[dict[str, Any]]) -> dict[str, Any]:
    """The span whose parent is not in the trace (the test's own traceparent is the remote parent)."""
    ids = {s["spanID"] for s in spans}
    (root,) = [s for s in spans if not any(r["spanID"] in ids for r in s["references"])]
    return root


def _is_email_call(span: dict[str, Any]) -> bool:
    url = str(span["tagmap"].get("url.full", span["tagmap"].get("http.url", "")))
    return span["tagmap"].get("span.kind") == "client" and url.startswith("http://127.0.0.1:8765/email")


def _local_root(spans: list[dict[str, Any]], span: dict[str, Any]) -> dict[str, Any]:
    by_id = {s["spanID"]: s for s in spans}
    while span["references"] and span["references"][0]["spanID"] in by_id:
        parent = by_id[span["references"][0]["spanID"]]
        if parent["processID"] != span["processID"]:
            break
        span = parent
    return span


def test_tail_sampling_keeps_every_flagged_trace_and_about_the_share_of_the_rest(stack: Driven) -> None:
    for what, trace_id in stack.flagged.items():
        spans = wait_until(f"the {what} trace {trace_id} in Jaeger", lambda: jaeger_trace(trace_id), timeout=60)
        root = _trace_root(spans)
        if what == "slow":
            assert root["tagmap"]["trainerhub.slow"] is True
        elif what == "n_plus_one":
            assert root["tagmap"]["trainerhub.n_plus_one.count"] >= 5
        elif what == "slow_query":
            assert [s for s in spans if s["tagmap"].get("trainerhub.db.slow") is True], spans
        else:
            status = root["tagmap"].get("http.response.status_code", root["tagmap"].get("http.status_code"))
            assert root["tagmap"]["error"] is True and status == 500
    # Every decision is in by now (decision wait 3 s, and the flagged ones came last).
    kept = sum(1 for t in stack.fast if jaeger_trace(t))
    expected = TAIL_SHARE * FAST_BURST
    # The probabilistic policy hashes the trace id: binomial, sd = sqrt(n p (1-p)) ~ 7.
    assert abs(kept - expected) <= 30, f"kept {kept} of {FAST_BURST} fast traces; configured share {TAIL_SHARE:.0%}"
    assert kept < FAST_BURST


def test_postgresqls_own_log_names_the_route_of_a_slow_statement(stack: Driven) -> None:
    """The stack's application comments its SQL (OTEL_TRAINERHUB_SQL_COMMENTS=route), and
    .ci/services.sh has PostgreSQL log statements over 100 ms."""
    lines = wait_until("the slow statement in PostgreSQL's log",
                       lambda: slow_statements(postgres_log(), stack.postgres_log_offset, "pg_sleep"), timeout=30)
    assert {"app": "analytics", "controller": "utilisation-report", "route": "api/reports/utilisation/"} in [sql_comment(x) for x in lines], lines


# --- Prometheus ---------------------------------------------------------------------------


def test_spanmetrics_count_every_request_although_traces_are_sampled(stack: Driven) -> None:
    expr = (f'sum(traces_span_metrics_calls_total{{service_name="{stack.service}",span_name="GET api/ping/",'
            f'span_kind="SPAN_KIND_SERVER"}})')
    value = wait_until(f"{expr} == {stack.ping_requests}", lambda: prom_value(expr) == stack.ping_requests or None, timeout=90)
    assert value is True, prom_value(expr)


def test_prometheus_has_red_db_time_and_server_metrics(stack: Driven) -> None:
    svc = stack.service
    selectors = {
        "request rate (bookings)": f'traces_span_metrics_calls_total{{service_name="{svc}",http_route="api/bookings/",span_kind="SPAN_KIND_SERVER"}}',
        "errors by status (invoice)": f'traces_span_metrics_calls_total{{service_name="{svc}",http_route="api/bookings/<int:booking_id>/invoice/",status_code="STATUS_CODE_ERROR"}}',
        "latency histogram (bookings)": f'traces_span_metrics_duration_milliseconds_bucket{{service_name="{svc}",http_route="api/bookings/"}}',
        "DB time per request (bookings)": f'trainerhub_request_db_duration_seconds_bucket{{job="{svc}",trainerhub_route="api/bookings/"}}',
        "queries per request (bookings)": f'trainerhub_request_db_queries_bucket{{job="{svc}",trainerhub_route="api/bookings/"}}',
        "a task's DB time": f'trainerhub_request_db_duration_seconds_count{{job="{svc}",trainerhub_root_kind="task"}}',
        "N+1 findings": f'trainerhub_n_plus_one_total{{job="{svc}"}}',
        "slow requests": f'trainerhub_slow_total{{job="{svc}"}}',
        "slow statements by route": f'trainerhub_db_slow_queries_total{{job="{svc}",trainerhub_route="api/reports/utilisation/"}}',
        "server-side statements by route (pg_stat_statements)": 'pg_top_statements_exec_seconds_total{job="postgresql",route="api/reports/utilisation/"}',
        "web workers' pool": f'db_client_connection_count{{job="{svc}",db_client_connection_state="idle"}}',
        "the Celery worker's persistent connections": f'trainerhub_db_connections_opened_total{{job="{svc}"}}',
        "index hit counts per table": 'pg_table_index_blocks_hit_total{job="postgresql",relname="bookings_booking"}',
        "Redis server": 'redis_connected_clients{job="redis"}',
        "PostgreSQL server": 'pg_up{job="postgresql"} == 1',
        "host CPU": 'node_cpu_seconds_total{job="node"}',
        "collector accepted spans": 'otelcol_receiver_accepted_spans{job="otelcol"}',
        "collector refused spans": 'otelcol_receiver_refused_spans{job="otelcol"}',
        "collector export queue": 'otelcol_exporter_queue_size{job="otelcol"}',
    }
    missing = {}
    deadline = time.monotonic() + 90
    while True:
        missing = {what: expr for what, expr in selectors.items() if not prom_query(expr)}
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert not missing, f"no samples for: {json.dumps(missing, indent=1)}\nmetric names: {_metric_names()}"


def _metric_names() -> list[str]:
    return [n for n in requests.get(f"{PROMETHEUS}/api/v1/label/__name__/values", timeout=10).json()["data"]
            if n.startswith(("trainerhub", "traces", "otelcol"))]


# --- Sentry -------------------------------------------------------------------------------


def test_sentry_gets_the_sampled_traces_over_otlp(stack: Driven) -> None:
    posts = wait_until("traces at the Sentry endpoint", lambda: stack.sink.otlp("traces"), timeout=60)
    for post in posts:
        assert post["path"] == f"/api/{SENTRY_PROJECT}/integration/otlp/v1/traces"
        headers = {k.lower(): v for k, v in post["headers"].items()}
        assert headers["x-sentry-auth"] == f"sentry sentry_key={SENTRY_KEY}, sentry_version=7"
        assert headers["content-type"] == "application/x-protobuf"

    def spans() -> list[Span]:
        return [s for p in stack.sink.otlp("traces") for s in decode_traces(p["body"])]

    flagged = set(stack.flagged.values())
    got = wait_until("the flagged traces at the Sentry endpoint", lambda: flagged <= {s.trace_id for s in spans()} and spans(), timeout=60)
    error_root = next(s for s in got if s.trace_id == stack.flagged["error"] and s.kind == "SERVER")
    assert error_root.resource["service.name"] == stack.service
    assert error_root.name == "GET api/bookings/<int:booking_id>/invoice/" and error_root.status == 2
    assert not {s.trace_id for s in got} - set(_kept_ids(stack)), "Sentry gets only what tail sampling kept"
    logs = wait_until("logs at the Sentry endpoint", lambda: stack.sink.otlp("logs"), timeout=60)
    assert all(p["path"] == f"/api/{SENTRY_PROJECT}/integration/otlp/v1/logs" for p in logs)


def _kept_ids(stack: Driven) -> list[str]:
    sampled = [s.trace_id for p in stack.sink.otlp("traces") for s in decode_traces(p["body"])]
    return [t for t in set(sampled) if jaeger_trace(t)]


# --- redaction ----------------------------------------------------------------------------


def test_planted_secrets_reach_neither_jaeger_nor_prometheus_nor_sentry(stack: Driven) -> None:
    # The planted requests and the raw span arrived (so absence below means masked, not lost).
    traces = {t: wait_until(f"planted trace {t}", lambda t=t: jaeger_trace(t), timeout=60) for t in [*stack.planted_traces, stack.raw_trace]}
    raw = next(s for s in traces[stack.raw_trace] if s["operationName"] == "GET raw/card")
    assert raw["tagmap"]["user.password"] != PLANTED["password attribute"]
    assert PLANTED_CARD not in raw["tagmap"]["http.route"]
    assert raw["tagmap"]["otel.status_description"].startswith("ValueError: card ")  # masked, not dropped
    assert any(log["fields"] for log in raw["logs"]), "the exception event arrived"
    jaeger_text = json.dumps(traces)
    # Jaeger has it after the tail-sampling wait; spanmetrics after its flush interval and a remote write.
    wait_until("the raw span's route in spanmetrics", lambda: any(
        v.startswith("raw/card/") for v in requests.get(f"{PROMETHEUS}/api/v1/label/http_route/values", timeout=10).json()["data"]), timeout=90)
    labels = requests.get(f"{PROMETHEUS}/api/v1/labels", timeout=10).json()["data"]
    prometheus_text = json.dumps({name: requests.get(f"{PROMETHEUS}/api/v1/label/{name}/values", timeout=10).json()["data"] for name in labels})
    wait_until("the planted traces at Sentry", lambda: {*stack.planted_traces, stack.raw_trace} <= {
        s.trace_id for p in stack.sink.otlp("traces") for s in decode_traces(p["body"])}, timeout=60)
    sentry_text = "\n".join(repr(decode_traces(p["body"])) for p in stack.sink.otlp("traces")) + stack.sink.raw()
    leaks = {
        f"{what} in {where}": value
        for what, value in PLANTED.items()
        for where, text in (("Jaeger", jaeger_text), ("Prometheus labels", prometheus_text), ("Sentry", sentry_text))
        if value in text
    }
    assert not leaks, leaks


# --- the trainer app's browser telemetry -------------------------------------------------


def _url(span: dict[str, Any]) -> str:
    return str(span["tagmap"].get("url.full", span["tagmap"].get("http.url", "")))


def _parent(spans: list[dict[str, Any]], span: dict[str, Any]) -> dict[str, Any] | None:
    by_id = {s["spanID"]: s for s in spans}
    return next((by_id[r["spanID"]] for r in span["references"] if r["spanID"] in by_id), None)


def test_a_page_view_is_one_trace_from_the_browser_to_the_sql(stack: Driven) -> None:
    web = f"{stack.service}-web"

    def whole(trace_id: str) -> list[dict[str, Any]] | None:
        spans = jaeger_trace(trace_id) or []
        has = {
            # The page's own server span too: the browser's beacons can reach Jaeger before
            # gunicorn's batch with it does, and a trace read then has two roots.
            "page span": any(s["service"] == stack.service and s["tagmap"].get("http.route") == "trainer/" for s in spans),
            "document load": any(s["service"] == web and s["operationName"] == "documentLoad" for s in spans),
            "fetch": any(s["service"] == web and s["tagmap"].get("span.kind") == "client" and "/api/bookings/" in _url(s) for s in spans),
            "API span": any(s["service"] == stack.service and s["tagmap"].get("http.route") == "api/bookings/" for s in spans),
            "SQL": any(s["tagmap"].get("db.system", s["tagmap"].get("db.system.name")) == "postgresql" for s in spans),
        }
        return spans if all(has.values()) else None

    spans = wait_until("a page view's whole trace in Jaeger", lambda: next(filter(None, map(whole, stack.page_traces)), None), timeout=120)
    page = _trace_root(spans)
    assert page["service"] == stack.service and page["tagmap"]["http.route"] == "trainer/", "the server span that rendered the page is the root"
    load = next(s for s in spans if s["operationName"] == "documentLoad")
    assert _parent(spans, load) is page, "the browser's document load hangs under the page's server span (<meta name=traceparent>)"
    assert load["tagmap"]["http.route"] == "/trainer/" and load["service"] == f"{stack.service}-web"
    fetches = [s for s in spans if s["service"] == f"{stack.service}-web" and "/api/bookings/" in _url(s)]
    apis = [s for s in spans if s["service"] == stack.service and s["tagmap"].get("http.route") == "api/bookings/"]
    assert len(fetches) == len(apis) == 2, "the first load and the Refresh click, both in the page view's trace"
    for fetch in fetches:
        assert _parent(spans, fetch) is page
        (api,) = [a for a in apis if _parent(spans, a) is fetch]  # the traceparent the browser sent
        assert any(_local_root(spans, q) is api for q in spans if q["tagmap"].get("db.system", q["tagmap"].get("db.system.name")) == "postgresql")


def test_web_vitals_reach_prometheus_as_histograms_by_route(stack: Driven) -> None:
    job = f"{stack.service}-web"
    for vital in ("lcp", "inp", "cls", "fcp", "ttfb"):
        name = f"browser_web_vital_{vital}_milliseconds" if vital != "cls" else "browser_web_vital_cls"
        series = wait_until(f"{name}_bucket in Prometheus", lambda name=name: prom_query(f'{name}_bucket{{job="{job}", http_route="/trainer/"}}'), timeout=120)
        assert {s["metric"]["web_vital_rating"] for s in series} <= {"good", "needs-improvement", "poor"}
        # One report per page view, added up by the collector from every browser's deltas; INP
        # only where Chromium timed an interaction (every view clicks, but it is the browser's call).
        wanted = 1 if vital == "inp" else PAGE_VISITS + 1
        count = wait_until(f"{wanted} {vital.upper()} reports", lambda name=name: (
            (v := prom_value(f'sum({name}_count{{job="{job}", http_route="/trainer/"}})')) is not None and v >= wanted and v), timeout=120)
        assert wanted <= count <= PAGE_VISITS + 1, f"{vital}: {count} reports for {PAGE_VISITS + 1} page views"


def test_a_browser_error_reaches_sentry_and_jaeger_with_the_page_trace_id(stack: Driven) -> None:
    def browser_event() -> dict[str, Any] | None:
        return next((e for e in stack.sink.events() if e.get("platform") == "javascript"), None)

    event = wait_until("the trainer app's error at the Sentry endpoint", browser_event, timeout=60)
    (exception,) = event["exception"]["values"]
    assert exception["value"] == "Trainer app test error for [REDACTED], card [REDACTED]"
    assert event["contexts"]["trace"]["trace_id"] == event["tags"]["trace_id"] == stack.page_error_trace
    assert "user" not in event and "query_string" not in event.get("request", {})
    spans = wait_until("the error's span in the page's trace", lambda: [s for s in jaeger_trace(stack.page_error_trace) or []
                                                                       if s["operationName"] == "browser.error"], timeout=90)
    (error,) = spans
    assert error["tagmap"]["error"] is True and error["tagmap"]["http.route"] == "/trainer/"
    assert error["tagmap"]["otel.status_description"] == "Error: Trainer app test error for [REDACTED], card [REDACTED]"
    fields = {f["key"]: f["value"] for log in error["logs"] for f in log["fields"]}
    assert fields["exception.message"] == "Trainer app test error for [REDACTED], card [REDACTED]"
    # The page's query string (a reset token) in no log line either: the application's request
    # log, the worker's, the intake's (Jaeger, Prometheus and Sentry: the planted-secrets test).
    logs = {log.name: log.read_text(errors="replace") for log in (stack.stack_dir / "logs").glob("*.log")}
    assert "browser-intake.log" in logs and "gunicorn.log" in logs
    assert not [name for name, text in logs.items() if PLANTED["page query token"] in text]


def test_the_intake_and_the_api_refuse_what_is_not_the_trainer_app(stack: Driven, browser: Any) -> None:
    otlp = {"method": "POST", "headers": {"content-type": "application/json"}, "body": '{"resourceSpans": []}'}
    api = {"headers": {"traceparent": new_traceparent()[1], "Authorization": "Bearer client-1"}}
    with ForeignOrigin() as foreign:
        assert "error" in fetch_from(browser, foreign, f"{INTAKE}/v1/traces", **otlp), "CORS lets a foreign page send telemetry"
        assert "error" in fetch_from(browser, foreign, f"{APP}/api/bookings/", **api), "CORS lets a foreign page call the API"
    assert fetch_from(browser, f"{APP}/liveness/", f"{INTAKE}/v1/traces", **otlp) == {"status": 200}
    # The API's own CORS: trace headers from the trainer app's origin only.
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization,traceparent"}
    allowed = requests.options(f"{APP}/api/bookings/", headers={"Origin": APP, **preflight}, timeout=10)
    assert allowed.headers["Access-Control-Allow-Origin"] == APP and "traceparent" in allowed.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in requests.options(f"{APP}/api/bookings/", headers={"Origin": "http://evil.example", **preflight}, timeout=10).headers
    # A body over the limit, at the proxy and at the receiver itself.
    big = '{"resourceSpans": [], "x": "' + "a" * 300_000 + '"}'
    headers = {"Origin": APP, "Content-Type": "application/json"}
    assert requests.post(f"{INTAKE}/v1/traces", data=big, headers=headers, timeout=10).status_code == 413
    assert requests.post("http://127.0.0.1:4329/v1/traces", data=big, headers=headers, timeout=10).status_code in (400, 413)
    # A flood from one address: refused with 429 beyond the burst, and counted in the intake's log.
    with requests.Session() as session:
        codes = [session.post(f"{INTAKE}/v1/traces", data='{"resourceSpans": []}', headers=headers, timeout=10).status_code for _ in range(120)]
    # The burst (40) goes through first, less what this test's own requests above took from it.
    assert codes[:30] == [200] * 30 and codes.count(429) > 0, codes
    log = stack.stack_dir / "logs/browser-intake.log"  # nginx writes a line once the response is out
    wait_until("every refusal in the intake's log", lambda: sum(" 429 " in line for line in log.read_text().splitlines()) >= codes.count(429), timeout=30)


# --- alerts and dashboards ----------------------------------------------------------------


def test_no_alert_or_dashboard_watches_a_metric_that_does_not_exist(stack: Driven) -> None:
    """Every metric selector of every alert rule and dashboard panel has series in the stack's
    Prometheus after the traffic above. (A comparison may be empty when nothing is wrong; the
    selectors inside it may not.)"""
    expressions = {**rule_expressions(), **dashboard_expressions()}
    # (Metrics that only exist after a failure are checked where a test drives that failure.)
    wanted = {sel: name for name, expr in expressions.items() for sel in selectors(expr) if metric_name(sel) not in ONLY_AFTER_A_FAILURE}
    assert len(wanted) > 40, "the selector extraction found too little to be trusted"

    def dead() -> dict[str, str]:
        start = time.time() - 3600
        missing = {}
        for selector, where in wanted.items():
            found = requests.get(f"{PROMETHEUS}/api/v1/series", params={"match[]": selector, "start": start}, timeout=10)
            assert found.status_code == 200, (selector, found.text)
            if not found.json()["data"]:
                missing[selector] = where
        return missing

    missing: dict[str, str] = {}
    deadline = time.monotonic() + 120  # the blackbox probe, the exporters' scrapes and a metric export interval
    while time.monotonic() < deadline:
        missing = dead()
        if not missing:
            break
        time.sleep(5)
    assert not missing, "selectors with no series:\n" + "\n".join(f"  {s}  ({w})" for s, w in sorted(missing.items()))


def test_the_rules_are_loaded_and_alertmanager_receives_from_prometheus(stack: Driven) -> None:
    groups = requests.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {g["name"] for g in groups} == {"trainerhub.critical", "trainerhub.warning", "trainerhub.info"}
    assert sum(len(g["rules"]) for g in groups) == len(rule_expressions())
    assert all(r["health"] == "ok" for g in groups for r in g["rules"]), [r for g in groups for r in g["rules"] if r["health"] != "ok"]
    managers = wait_until("Prometheus to discover Alertmanager", lambda: requests.get(f"{PROMETHEUS}/api/v1/alertmanagers", timeout=10).json()["data"]["activeAlertmanagers"])
    assert managers[0]["url"].startswith("http://127.0.0.1:9093")
    # The probe through the TLS front sees a healthy application and a certificate.
    probe = wait_until("the blackbox probe", lambda: prom_query('probe_success{job="blackbox-health"}'))
    assert probe[0]["value"][1] == "1"
    days = prom_value('(probe_ssl_earliest_cert_expiry{job="blackbox-health"} - time()) / 86400')
    assert days is not None and 85 < days <= 90


# --- in a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with chromium(tmp_path_factory.mktemp("chromium")) as driver:
        yield driver


def _page_shows(driver: Any, text: str, what: str, timeout: float = 60) -> None:
    wait_until(what, lambda: text in driver.find_element("tag name", "body").text, timeout=timeout)


def test_a_person_finds_the_n_plus_one_trace_in_the_jaeger_ui(stack: Driven, browser: Any, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "monitoring"))
    from stack import jaeger_ui_assets

    if jaeger_ui_assets() is None:
        pytest.fail("no Jaeger UI build: see test_jaeger_serves_its_real_web_ui")
    trace_id = stack.flagged["n_plus_one"]
    wait_until(f"the N+1 trace {trace_id} in Jaeger", lambda: jaeger_trace(trace_id), timeout=60)
    # The search page, as a person arrives at it from the README: the service's traces listed.
    browser.get(f"{JAEGER}/search?service={stack.service}&lookback=1h&limit=200")
    _page_shows(browser, f"{stack.service}: GET api/trainers/", "the search results in the Jaeger UI")
    browser.save_screenshot(str(tmp_path / "jaeger-search.png"))
    # The trace itself: its root span opened shows what attribution wrote on it.
    browser.get(f"{JAEGER}/trace/{trace_id}")
    _page_shows(browser, "GET api/trainers/", "the trace page's span rows")
    root_row = browser.find_element("xpath", "//*[contains(@class, 'span-name') and contains(., 'GET api/trainers/')]")
    root_row.click()
    # Its tags, collapsed to a one-line summary at first: opened as a person would.
    wait_until("the root span's details", lambda: browser.find_elements("xpath", "//*[starts-with(normalize-space(.), 'Tags:')]"), timeout=30)
    browser.find_elements("xpath", "//*[starts-with(normalize-space(.), 'Tags:')]")[-1].click()
    _page_shows(browser, "trainerhub.n_plus_one.count", "the root span's tags")
    body = browser.find_element("tag name", "body").text
    assert "trainerhub.db.query_count" in body and "trainerhub.n_plus_one.statement" in body
    browser.save_screenshot(str(tmp_path / "jaeger-trace.png"))
    print(f"screenshots (test artifacts): {tmp_path}")


def test_the_monitor_tab_shows_the_fixtures_routes(stack: Driven, browser: Any, tmp_path: Path) -> None:
    # Jaeger reads the RED metrics from Prometheus (the collector's spanmetrics, every request).
    def operations() -> set[str]:
        now_ms = int(time.time() * 1000)
        answer = requests.get(f"{JAEGER}/api/metrics/calls", timeout=10, params={
            "service": stack.service, "spanKind": "server", "groupByOperation": "true", "endTs": now_ms,
            "lookback": 3_600_000, "step": 60_000, "ratePer": 600_000}).json()
        return {label["value"] for m in answer.get("metrics", []) for label in m["labels"] if label["name"] == "operation"}

    wait_until("the fixture's routes in Jaeger's metrics API", lambda: {"GET api/trainers/", "POST api/bookings/"} <= operations())
    # The tab as a person sees it, on the service they last picked (the UI keeps it in local storage).
    browser.get(f"{JAEGER}/monitor")
    browser.execute_script("window.localStorage.setItem('lastAtmSearchService', JSON.stringify(arguments[0]))", stack.service)
    browser.get(f"{JAEGER}/monitor")
    _page_shows(browser, f"Operations metrics under {stack.service}", "the Monitor tab's operations table")
    _page_shows(browser, "GET api/trainers/", "the fixture's routes in the Monitor tab")
    body = browser.find_element("tag name", "body").text
    assert "POST api/bookings/" in body and "Request rate" in body and "Error rate" in body
    browser.save_screenshot(str(tmp_path / "jaeger-monitor.png"))
    print(f"screenshot (test artifact): {tmp_path / 'jaeger-monitor.png'}")


def test_prometheus_classic_alerts_page_lists_every_rule(stack: Driven, browser: Any, tmp_path: Path) -> None:
    names = [r["alert"] for r in rule_expressions_alerts()]
    browser.get(f"{PROMETHEUS}/classic/alerts")
    _page_shows(browser, "trainerhub.critical", "Prometheus's classic alerts page")
    body = browser.find_element("tag name", "body").text
    assert [n for n in names if n not in body] == []
    browser.save_screenshot(str(tmp_path / "prometheus-alerts.png"))


def rule_expressions_alerts() -> list[dict[str, Any]]:
    import yaml

    rules = yaml.safe_load((ROOT / "monitoring/prometheus/rules/trainerhub.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def _alert_trace_links() -> dict[str, str]:
    """The traces_url annotation each alert renders in its promtool test, by alert name."""
    import yaml

    tests = yaml.safe_load((ROOT / "monitoring/prometheus/rules/tests/trainerhub_test.yml").read_text())
    return {case["alertname"]: alert["exp_annotations"]["traces_url"]
            for group in tests["tests"] for case in group.get("alert_rule_test", [])
            for alert in case.get("exp_alerts") or [] if "traces_url" in alert["exp_annotations"]}


def _on_this_stack(link: str, service: str, **overrides: str) -> tuple[str, dict[str, str]]:
    """The link as this stack's Prometheus renders it: its Jaeger, the e2e run's service."""
    parts = urllib.parse.urlsplit(link)
    query = dict(urllib.parse.parse_qsl(parts.query)) | {"service": service} | overrides
    return f"{JAEGER}{parts.path}?{urllib.parse.urlencode(query)}", query


def test_each_alerts_traces_link_finds_the_traces_it_is_about(stack: Driven, browser: Any, tmp_path: Path) -> None:
    links = _alert_trace_links()
    assert set(links) == {"HighErrorRate", "HighResponseTime", "CeleryTaskFailureRate", "SlowRequestRate", "NPlusOneQueries", "SlowQueriesRising"}
    expected = {
        "NPlusOneQueries": stack.flagged["n_plus_one"], "SlowRequestRate": stack.flagged["slow"], "SlowQueriesRising": stack.flagged["slow_query"],
        "HighErrorRate": stack.flagged["error"], "HighResponseTime": stack.flagged["slow"],
    }
    # The stack's slow endpoint takes 0.8 s, under the alert's 2 s: the link's other filters are kept.
    overrides = {"HighResponseTime": {"minDuration": "500ms"}}
    for alert, link in links.items():
        _, query = _on_this_stack(link, stack.service, **overrides.get(alert, {}))

        def found(query: dict[str, str] = query) -> list[dict[str, Any]]:
            answer = requests.get(f"{JAEGER}/api/traces", params=query | {"limit": "1000"}, timeout=10)
            answer.raise_for_status()
            return list(answer.json()["data"] or [])

        if alert in expected:
            wait_until(f"{alert}'s link to find trace {expected[alert]}", lambda: expected[alert] in {t["traceID"] for t in found()})
        else:  # the failing Celery task's runs
            traces = wait_until(f"{alert}'s link to find the failed task runs", found)
            spans = [s for t in traces for s in t["spans"] if s["operationName"] == query["operation"]]
            assert spans and all(any(tag["key"] == "error" and tag["value"] is True for tag in s["tags"]) for s in spans), spans[:2]
    # The link as a person follows it from the alert: Jaeger's search page with the N+1 traces.
    url, _ = _on_this_stack(links["NPlusOneQueries"], stack.service)
    browser.get(url)
    _page_shows(browser, f"{stack.service}: GET api/trainers/", "the N+1 alert's traces in the Jaeger UI")
    browser.save_screenshot(str(tmp_path / "jaeger-alert-link.png"))


def test_a_trace_links_to_its_log_lines_and_its_routes_graph(stack: Driven) -> None:
    # The UI config Jaeger injects into its page: the link patterns and the menu.
    page = requests.get(f"{JAEGER}/search", timeout=10).text
    assert "Log lines of this trace" in page and "classic/graph?g0.expr=" in page and "classic/alerts" in page
    # The link's target: the N+1 trace's JSON lines from the application's log.
    trace_id = stack.flagged["n_plus_one"]
    lines = wait_until("the N+1 trace's log lines", lambda: [
        json.loads(line) for line in requests.get(f"http://127.0.0.1:8767/trace/{trace_id}?format=jsonl", timeout=10).text.splitlines()])
    assert all(line["trace_id"] == trace_id for line in lines)
    assert any(line.get("message") == "N+1 query detected" for line in lines), lines
    html_page = requests.get(f"http://127.0.0.1:8767/trace/{trace_id}", timeout=10)
    assert html_page.status_code == 200 and "N+1 query detected" in html_page.text
    assert requests.get("http://127.0.0.1:8767/trace/not-a-trace-id", timeout=10).status_code == 404


def test_traces_outlive_a_jaeger_restart(stack: Driven) -> None:
    """Badger under the stack directory: a restarted Jaeger still has the traces it had. Last
    in the module: it stops Jaeger and `bin/stack up` starts it again."""
    trace_id = stack.flagged["n_plus_one"]
    before = wait_until(f"trace {trace_id} in Jaeger", lambda: jaeger_trace(trace_id))
    pid = int((stack.stack_dir / "pids/jaeger.pid").read_text())
    os.killpg(pid, 15)
    wait_until("Jaeger to stop", lambda: subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, timeout=30)
    up = _stack("up", stack.env)  # the same components as before: only Jaeger is not running
    assert up.returncode == 0, up.stdout + up.stderr
    after = wait_until(f"trace {trace_id} after the restart", lambda: jaeger_trace(trace_id), timeout=60)
    assert {s["spanID"] for s in after} == {s["spanID"] for s in before}
