"""The lean Redis command path (``otel_trainerhub._sdk.redis_``) makes the spans contrib's
``Redis.execute_command`` wrapper makes: the same commands through each, against a real
Redis, the spans compared field by field; the pools Celery and kombu use stay untraced."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_trainerhub._sdk import redis_ as lean
from otel_trainerhub.instrumentation import redis_
from otel_trainerhub.instrumentation.base import InstrumentationContext
from otel_trainerhub.redaction import redact_text
from otel_trainerhub.settings import load_settings
from tests.support.stack import REDIS_URL
from tests.unit.test_sql_spans import shape

pytestmark = pytest.mark.integration


@pytest.fixture()
def traced(clean_redis: None) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert redis_.instrument(InstrumentationContext(load_settings({}), provider, MeterProvider()))
    try:
        yield provider, exporter
    finally:
        redis_.uninstrument()


def _commands() -> None:
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/2")
    client.set("booking:1", "ana@example.com")
    client.get("booking:1")
    client.get("booking:missing")
    client.mget("booking:1", "booking:missing", "booking:2")
    client.hset("h", mapping={f"f{i}": "x" for i in range(300)})  # "HSET ? ? ...": over contrib's 1,000 characters
    with pytest.raises(redis.ResponseError):
        client.incr("booking:1")  # a string: the error status and event
    with pytest.raises(redis.ResponseError):
        client.execute_command("FT.SEARCH", "idx", "secret query")  # contrib's own path (no RediSearch here)
    client.delete("booking:1", "h")
    client.close()


def _shapes(exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    spans = exporter.get_finished_spans()
    exporter.clear()
    return [{**shape(s), "scope": (s.instrumentation_scope.name, s.instrumentation_scope.version)} for s in spans]


def test_the_lean_path_makes_the_spans_contribs_makes(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    assert lean.installed()
    with provider.get_tracer("test").start_as_current_span("request"):
        _commands()
    mine = _shapes(exporter)

    lean.uninstall()
    try:
        assert not lean.installed()
        with provider.get_tracer("test").start_as_current_span("request"):
            _commands()
        stock = _shapes(exporter)
    finally:
        assert lean.install(provider, redis_._response_hook, redis_.INTERNAL_POOL_MARK)
    assert mine == stock
    named = {s["name"]: s for s in mine}
    assert [s["name"] for s in mine] == ["SET", "GET", "GET", "MGET", "HSET", "INCRBY", "redis.search", "DEL", "request"]
    assert mine[1]["attributes"]["trainerhub.cache.hits"] == 1 and mine[2]["attributes"]["trainerhub.cache.misses"] == 1
    assert mine[3]["attributes"]["trainerhub.cache.hits"] == 1 and mine[3]["attributes"]["trainerhub.cache.misses"] == 2
    attributes = named["SET"]["attributes"]
    assert attributes["db.statement"] == "SET ? ?" and attributes["db.system"] == "redis" and attributes["db.redis.database_index"] == 2
    assert attributes["net.peer.name"] == "127.0.0.1" and attributes["net.peer.port"] == 6379 and attributes["db.redis.args_length"] == 3
    assert named["HSET"]["attributes"]["db.statement"].endswith("...") and len(named["HSET"]["attributes"]["db.statement"]) == 1000
    assert named["INCRBY"]["status"][0].name == "ERROR" and named["INCRBY"]["events"][0][0] == "exception"
    assert "ana@example.com" not in str(mine)
    # Redis's own error repeats the arguments; the redaction policy masks them (RedactionProcessor).
    description = named["redis.search"]["status"][1]
    assert "secret query" in description and "secret query" not in redact_text(description)


def test_celery_and_kombu_pools_stay_untraced_on_the_lean_path(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    import redis

    _, exporter = traced
    internal = redis.Redis.from_url(f"{REDIS_URL}/2")
    setattr(internal.connection_pool, redis_.INTERNAL_POOL_MARK, True)  # what the marked pool factories do
    internal.get("celery-task-meta-1")
    internal.pipeline().set("a", 1).get("a").execute()
    redis.Redis.from_url(f"{REDIS_URL}/2").get("app:key")
    assert [s.name for s in exporter.get_finished_spans()] == ["GET"]
