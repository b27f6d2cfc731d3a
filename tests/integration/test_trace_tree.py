"""One trace from the request that books to the worker that confirms, on real services.

gunicorn (--preload, 3 workers) and a Celery prefork worker export over OTLP/HTTP to a
receiver in this process; PostgreSQL, Redis (cache and broker) are the real servers.
"""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver, Span, children, trace_of
from tests.support.stack import base_env, http, start_celery, start_gunicorn

pytestmark = pytest.mark.integration

TASK = "apps.notifications.tasks.send_booking_confirmation"


def _env(endpoint: str, sandbox: str, **extra: str) -> dict[str, str]:
    return base_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_SERVICE_NAME="trainerhub-it",
        PROVIDERS_BASE_URL=sandbox,
        **extra,
    )


def _one(spans: list[Span], **match: object) -> Span:
    found = [s for s in spans if all(getattr(s, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one span with {match}, found {[(s.name, s.kind) for s in found]}"
    return found[0]


def _create_booking(url: str, token: str, service_id: int, day: int) -> int:
    status, body, headers = http(
        "POST", f"{url}/api/bookings/", token=token, body={"service": service_id, "starts_at": f"2031-03-{day:02d}T10:00:00+00:00"}
    )
    assert status == 201, body
    return int(json.loads(body)["id"])


def _service_id(url: str, receiver: OtlpReceiver) -> int:
    """A service to book; waits for the lookup's own trace so that it can be cleared."""
    status, body, _ = http("GET", f"{url}/api/trainers/")
    assert status == 200
    receiver.wait_for(lambda spans: any(s.name == "GET api/trainers/" for s in spans))
    receiver.clear()
    return int(json.loads(body)["trainers"][0]["services"][0]["id"])


def test_booking_request_and_its_task_form_one_trace(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path, serve) -> None:
    env = _env(receiver.start_http(), sandbox)
    gunicorn, url = serve(env, log_dir)
    worker = start_celery(env, log_dir)
    try:
        service = _service_id(url, receiver)
        booking_id = _create_booking(url, "client-1", service, 3 + serve.keywords["asgi"])

        def complete(spans: list[Span]) -> bool:
            runs = [s for s in spans if s.name == f"run/{TASK}"]
            return bool(runs) and any(s.parent_id == runs[0].span_id and s.kind == "CLIENT" and "http.request.method" in s.attributes or "http.method" in s.attributes for s in spans)

        try:
            spans = receiver.wait_for(complete)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- celery worker log ---\n{worker.output()[-5000:]}") from None
    finally:
        worker.stop()
        gunicorn.stop()
    spans = receiver.spans()

    server = _one(spans, name="POST api/bookings/", kind="SERVER")
    assert server.attributes["http.route"] == "api/bookings/"
    assert server.attributes.get("http.response.status_code", server.attributes.get("http.status_code")) == 201
    assert server.attributes["user.id"]
    assert server.parent_id == ""
    trace = trace_of(spans, server.trace_id)

    # The request's own work: SQL on PostgreSQL with placeholders, the cache on Redis, the publish.
    direct = children(trace, server)
    sql = [s for s in direct if s.attributes.get("db.system") == "postgresql"]
    assert {s.name for s in sql} >= {"SELECT", "INSERT"}, [s.name for s in direct]
    for s in sql:
        statement = s.attributes.get("db.statement", s.attributes.get("db.query.text", ""))
        assert "%s" in statement or not any(ch.isdigit() for ch in statement.split("FROM")[-1]), statement
        assert "client-1" not in statement
    cache = [s for s in direct if s.attributes.get("db.system") == "redis"]
    assert cache, "the request's cache invalidation should be a Redis span under the server span"
    publish = _one(trace, name=f"apply_async/{TASK}", kind="PRODUCER")
    assert publish.parent_id == server.span_id

    # The worker: the run span continues the same trace under the publish span.
    run = _one(trace, name=f"run/{TASK}", kind="CONSUMER")
    assert run.parent_id == publish.span_id
    # kombu's LPUSH onto the broker is Celery's own traffic: not traced.
    assert children(trace, publish) == [run]
    assert run.attributes.get("celery.task_name") == TASK
    task_children = children(trace, run)
    assert any(s.attributes.get("db.system") == "postgresql" and s.name == "SELECT" for s in task_children)
    assert any(s.attributes.get("db.system") == "postgresql" and s.name == "INSERT" for s in task_children)
    assert any(s.attributes.get("db.system") == "redis" for s in task_children)
    outbound = [s for s in task_children if s.kind == "CLIENT" and s.scope.endswith("requests")]
    assert len(outbound) == 1 and outbound[0].name == "POST"

    # Processes: the request ran in a gunicorn worker, the task in a prefork child; each
    # resource carries its own pid, and neither is the parent it was forked from.
    assert server.pid not in (gunicorn.pid, worker.pid)
    assert run.pid not in (gunicorn.pid, worker.pid, server.pid)
    assert all(s.pid == server.pid for s in direct)
    assert all(s.pid == run.pid for s in task_children)
    assert server.resource["service.name"] == "trainerhub-it"

    # Nothing but this trace was exported: no broker polling, heartbeats, acks or result
    # bookkeeping produced traces of their own.
    assert {s.trace_id for s in spans} == {server.trace_id}, sorted({(s.name, s.scope) for s in spans if s.trace_id != server.trace_id})
    # No duplicate-provider warnings anywhere.
    for proc in (gunicorn, worker):
        assert "Overriding of current" not in proc.output(), proc.output()[-2000:]


def test_health_probes_are_not_traced(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path, serve) -> None:
    env = _env(receiver.start_http(), sandbox)
    gunicorn, url = serve(env, log_dir, workers=1)
    try:
        for path in ("/health/", "/liveness/"):
            status, _, _ = http("GET", url + path)
            assert status == 200
        status, _, _ = http("GET", url + "/api/ping/")
        assert status == 200
        spans = receiver.wait_for(lambda s: any(x.name == "GET api/ping/" for x in s))
    finally:
        gunicorn.stop()
    spans = receiver.spans()
    # /health/ runs SQL and Redis commands; none of it may show up, as a span or a trace.
    assert [s.name for s in spans] == ["GET api/ping/"]


def test_every_gunicorn_worker_exports_and_recycled_workers_lose_nothing(seeded_database, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    env = _env(receiver.start_http(), sandbox)
    # Each worker is replaced after 7 requests: spans of a worker that exits must still arrive.
    gunicorn, url = start_gunicorn(env, log_dir, workers=3, max_requests=7)
    receiver.clear()
    requests_sent = 60
    try:
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda i: http("GET", f"{url}/api/ping/?n={i}")[0], range(requests_sent)))
        assert statuses == [200] * requests_sent
    finally:
        gunicorn.stop()
    spans = receiver.wait_for(lambda s: len([x for x in s if x.kind == "SERVER"]) >= requests_sent, timeout=15)
    servers = [s for s in spans if s.kind == "SERVER"]
    assert len(servers) == requests_sent
    per_pid: dict[int, int] = {}
    for s in servers:
        per_pid[s.pid] = per_pid.get(s.pid, 0) + 1
    assert gunicorn.pid not in per_pid
    # 60 requests over workers that each serve at most 7 (plus jitter of gunicorn's
    # max_requests, which is 0 here) means at least 9 distinct worker processes.
    assert len(per_pid) >= requests_sent // 7, per_pid
    assert max(per_pid.values()) <= 7, per_pid
    assert gunicorn.output().count("Autorestarting worker") >= 5


@pytest.mark.parametrize("max_tasks_per_child", [0, 1])
def test_prefork_children_export_every_task(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path, max_tasks_per_child: int) -> None:
    env = _env(receiver.start_http(), sandbox)
    gunicorn, url = start_gunicorn(env, log_dir, workers=2)
    worker = start_celery(env, log_dir, concurrency=2, max_tasks_per_child=max_tasks_per_child)
    tasks = 6
    try:
        service = _service_id(url, receiver)
        for day in range(tasks):
            _create_booking(url, f"client-{day + 2}", service, 10 + day + 10 * max_tasks_per_child)
        spans = receiver.wait_for(lambda s: len([x for x in s if x.name == f"run/{TASK}"]) >= tasks, timeout=60)
    finally:
        worker.stop()
        gunicorn.stop()
    spans = receiver.spans()
    runs = [s for s in spans if s.name == f"run/{TASK}"]
    assert len(runs) == tasks
    # Every run span arrived with its children (2 SELECT-or-INSERT at least, 1 HTTP call).
    for run in runs:
        kids = children(spans, run)
        assert len([k for k in kids if k.attributes.get("db.system") == "postgresql"]) >= 2
        assert len([k for k in kids if k.scope.endswith("requests")]) == 1
    pids = {r.pid for r in runs}
    assert worker.pid not in pids
    if max_tasks_per_child == 1:
        # Each child ran one task then exited through os._exit: its spans still arrived.
        assert len(pids) == tasks, pids
    assert len({r.trace_id for r in runs}) == tasks
