"""The lean DB-API statement path against contrib's, on psycopg 3 and a real PostgreSQL: the
connection attributes (host, port, user) that sqlite3 has none of, psycopg's ``Composable``
statements (handed to contrib's path), and the server's errors. The sqlite3 side is in
tests/unit/test_sql_spans.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_trainerhub.instrumentation import contrib
from otel_trainerhub.instrumentation.base import InstrumentationContext
from otel_trainerhub.redaction import redact_text
from otel_trainerhub.settings import load_settings
from tests.support.stack import DATABASE_URL
from tests.unit.test_sql_spans import compare_paths, run_statements

pytestmark = pytest.mark.integration


@pytest.fixture()
def traced(services: None) -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert contrib.instrument("psycopg", InstrumentationContext(load_settings({}), provider, MeterProvider()))
    try:
        yield provider, exporter
    finally:
        contrib.uninstrument("psycopg")


def test_the_lean_path_makes_the_spans_contribs_makes_on_postgres(traced: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    import psycopg
    from psycopg import sql

    provider, exporter = traced
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    statements: list[tuple[Any, tuple[Any, ...]]] = [
        ("CREATE TEMPORARY TABLE cards (id serial PRIMARY KEY, number text, owner text)", ()),
        ("INSERT INTO cards (number, owner) VALUES ('4111 1111 1111 1111', 'ana@example.com')", ()),
        ("INSERT INTO cards (number, owner) VALUES (%s, %s)", ("5500 0000 0000 0004", "bo")),
        ("/* a leading note */ SELECT number FROM cards WHERE owner = 'ana@example.com'", ()),
        ("SELECT 1 /*route='api/x/'*/", ()),
        (sql.SQL("SELECT {} FROM cards WHERE owner = {}").format(sql.Identifier("number"), sql.Literal("ana@example.com")), ()),
        (b"SELECT 'bytes@example.com'", ()),
        ("SELEC broken FROM nowhere WHERE pin = 4242", ()),
        ("SELECT * FROM missing_table WHERE email = 'ana@example.com'", ()),
    ]

    def run() -> None:
        many = "INSERT INTO cards (number, owner) VALUES (%s, %s)"
        run_statements(provider, psycopg.connect(admin, autocommit=True), statements, psycopg.Error, many)

    lean = compare_paths(provider, exporter, run)
    assert len(lean) == len(statements) + 1
    attributes = lean[1]["attributes"]
    assert attributes["db.system"] == "postgresql" and attributes["db.name"] == "trainerhub"
    assert attributes["net.peer.name"] == "127.0.0.1" and attributes["net.peer.port"] and attributes["db.user"] == "trainerhub"
    assert attributes["db.statement"] == "INSERT INTO cards (number, owner) VALUES (?, ?)"
    assert lean[5]["name"] == "SELECT" and "ana@example.com" not in str(lean[5])  # a Composable, by contrib's path
    assert "bytes@example.com" not in str(lean[6])
    # The server's error text repeats the statement with its literals; the redaction policy
    # (RedactionProcessor on every span, the log formatter, Sentry's scrubber) masks it.
    description = lean[7]["status"][1]
    assert description.startswith("SyntaxError") and "pin = 4242" in description
    assert "pin = ?" in redact_text(description) and "4242" not in redact_text(description)
