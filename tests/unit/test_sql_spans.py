"""The lean DB-API statement path (``otel_trainerhub._sdk.dbapi``) makes the spans contrib's
``CursorTracer.traced_execution`` makes: the same statements run through each, on sqlite3
(a DB-API driver whose instrumentor is contrib's dbapi one, as psycopg's is), and the spans
compared field by field."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.dbapi import CursorTracer
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_trainerhub._sdk import dbapi
from otel_trainerhub.instrumentation import contrib
from otel_trainerhub.instrumentation.base import InstrumentationContext
from otel_trainerhub.settings import load_settings

STATEMENTS: list[tuple[str, tuple[Any, ...]]] = [
    ("CREATE TABLE cards (id INTEGER PRIMARY KEY, number TEXT, owner TEXT)", ()),
    ("INSERT INTO cards (number, owner) VALUES ('4111 1111 1111 1111', 'ana@example.com')", ()),
    ("INSERT INTO cards (number, owner) VALUES (?, ?)", ("5500 0000 0000 0004", "bo")),
    ("/* a leading note */ SELECT number FROM cards WHERE owner = 'ana@example.com'", ()),
    ("SELECT 1 /*route='api/x/',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/", ()),
    ("   SELECT\n  2", ()),
    ("", ()),
    ("SELEC broken FROM nowhere WHERE pin = 4242", ()),  # raises: the error status and event
    ("SELECT * FROM missing_table WHERE email = 'ana@example.com'", ()),
]


@pytest.fixture()
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    context = InstrumentationContext(load_settings({}), provider, MeterProvider())
    assert contrib.instrument("sqlite3", context)
    try:
        yield provider, exporter
    finally:
        contrib.uninstrument("sqlite3")


def run_statements(provider: TracerProvider, connection: Any, statements: list[tuple[Any, tuple[Any, ...]]], error: type[Exception], many: str) -> None:
    """Each statement on a cursor of its own (as Django runs them), errors swallowed, then
    one ``executemany``, all under a parent span; the connection closed."""
    with provider.get_tracer("test").start_as_current_span("request"):
        for statement, parameters in statements:
            cursor = connection.cursor()
            try:
                cursor.execute(statement, parameters)
            except error:
                pass
        connection.cursor().executemany(many, [("1", "a"), ("2", "b")])
    connection.close()


def compare_paths(provider: TracerProvider, exporter: InMemorySpanExporter, run: Any) -> list[dict[str, Any]]:
    """``run()`` on the lean path, then on contrib's: the spans' shapes must be equal."""
    assert dbapi.installed()
    run()
    lean = [shape(s) for s in exporter.get_finished_spans() if s.name != "request"]
    exporter.clear()
    dbapi.uninstall()
    try:
        assert not dbapi.installed()
        run()
    finally:
        dbapi.install(contrib._masked)
    stock = [shape(s) for s in exporter.get_finished_spans() if s.name != "request"]
    assert lean == stock
    return lean


def _run(provider: TracerProvider) -> None:
    many = "INSERT INTO cards (number, owner) VALUES (?, ?)"
    run_statements(provider, sqlite3.connect(":memory:"), STATEMENTS, sqlite3.Error, many)


def shape(span: Any) -> dict[str, Any]:
    return {
        "name": span.name,
        "kind": span.kind,
        "attributes": dict(span.attributes),
        "status": (span.status.status_code, span.status.description),
        "events": [(e.name, {k: v for k, v in e.attributes.items() if k != "exception.stacktrace"}) for e in span.events],
        "parent is the request": span.parent is not None,
        "ended": span.end_time is not None and span.end_time >= span.start_time,
    }


def test_the_lean_path_makes_the_spans_contribs_makes(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    lean = compare_paths(provider, exporter, lambda: _run(provider))
    assert len(lean) == len(STATEMENTS) + 1
    # What the comparison covers, so that it cannot pass on two empty lists of attributes.
    assert lean[1]["name"] == "INSERT" and lean[1]["attributes"]["db.system"] == "sqlite"
    assert lean[1]["attributes"]["db.statement"] == "INSERT INTO cards (number, owner) VALUES (?, ?)"
    assert lean[3]["name"] == "SELECT" and "ana@example.com" not in lean[3]["attributes"]["db.statement"]
    assert lean[4]["attributes"]["db.statement"] == "SELECT ?"  # the sqlcommenter comment off, the literal masked
    assert lean[7]["status"][0] == trace.StatusCode.ERROR and lean[7]["events"][0][0] == "exception"
    assert "4242" not in str(lean[7]) and lean[-1]["name"] == "INSERT"


def test_suppressed_instrumentation_makes_no_span(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    provider, exporter = traced
    connection = sqlite3.connect(":memory:")
    with suppress_instrumentation():
        connection.cursor().execute("SELECT 1")
    connection.cursor().execute("SELECT 2")
    assert [s.attributes["db.statement"] for s in exporter.get_finished_spans()] == ["SELECT ?"]


def test_uninstrumenting_puts_contribs_path_back(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    assert CursorTracer.__dict__["traced_execution"] is not dbapi._ORIGINAL
    contrib.uninstrument("sqlite3")
    assert CursorTracer.__dict__["traced_execution"] is dbapi._ORIGINAL
    contrib.instrument("sqlite3", InstrumentationContext(load_settings({}), traced[0], MeterProvider()))  # for the fixture's teardown
