"""Slow statements (SLOW_QUERY_THRESHOLD): flagged on their span, logged once with the route, counted."""

from __future__ import annotations

import logging

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from otel_trainerhub.processors import slow_queries
from otel_trainerhub.sql import summary
from tests.unit.test_attribution import MS, Rig, make_rig

SLOW_SQL = 'SELECT "b"."id" FROM "bookings_booking" "b" WHERE "b"."trainer_id" = 42 AND "b"."note" = \'secret\''


def _request(rig: Rig, *statements: tuple[str, float], route: str = "api/bookings/") -> None:
    root = rig.tracer.start_span("GET " + route, kind=SpanKind.SERVER, attributes={"http.route": route, "http.request.method": "GET"}, start_time=0)
    with trace.use_span(root, end_on_exit=False):
        start = 0
        for statement, ms in statements:
            span = rig.tracer.start_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": statement}, start_time=start)
            start += int(ms * MS)
            span.end(end_time=start)  # the statement's caller
    root.end(end_time=start + MS)


def _slow_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "Slow query"]


def test_a_statement_over_the_threshold_is_flagged_logged_once_with_its_route_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig()  # SLOW_QUERY_THRESHOLD's default, 0.1 s
    _request(rig, ("SELECT 1", 2), (SLOW_SQL, 150), ("SELECT 2", 100))
    spans = {s.attributes["db.statement"]: s for s in rig.exporter.get_finished_spans() if s.kind == SpanKind.CLIENT}
    flagged = [statement for statement, s in spans.items() if s.attributes.get("trainerhub.db.slow") is True]
    assert len(flagged) == 1 and "bookings_booking" in flagged[0]  # 100 ms is not over 0.1 s
    (line,) = _slow_lines(caplog)
    assert line.levelno == logging.WARNING and line.route == "api/bookings/" and line.duration_ms == 150.0
    assert line.statement == 'SELECT "b"."id" FROM "bookings_booking" "b" WHERE "b"."trainer_id" = ? AND "b"."note" = ?'
    assert line.source.endswith("test_slow_queries.py:" + str(_line_of("# the statement's caller")))
    slow_span = spans[flagged[0]]
    assert line.trace_id == format(slow_span.context.trace_id, "032x") and line.span_id == format(slow_span.context.span_id, "016x")
    (point,) = rig.metric_points("trainerhub.db.slow_queries")
    assert point.value == 1 and point.attributes == {
        "trainerhub.root.kind": "request", "trainerhub.route": "api/bookings/",
        "db.query.summary": "SELECT bookings_booking", "trainerhub.db.statement.fingerprint": line.fingerprint,
    }
    assert len(line.fingerprint) == 8 and "secret" not in repr(point.attributes) + line.statement


def test_the_same_statement_again_adds_to_its_series_and_the_threshold_is_configurable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig(slow_query_threshold_s=0.01)
    _request(rig, ("SELECT * FROM a WHERE id = 1", 20), ("SELECT * FROM a WHERE id = 2", 30), ("SELECT 3", 5))
    _request(rig, ("SELECT * FROM a WHERE id = 3", 20), route="api/other/")
    assert len(_slow_lines(caplog)) == 3
    points = {(p.attributes["trainerhub.route"], p.attributes["db.query.summary"]): p.value for p in rig.metric_points("trainerhub.db.slow_queries")}
    assert points == {("api/bookings/", "SELECT a"): 2, ("api/other/", "SELECT a"): 1}


@pytest.mark.parametrize(("system_key", "statement_key"), [("db.system", "db.statement"), ("db.system.name", "db.query.text")])
def test_a_statement_with_no_request_around_it_is_still_reported(system_key: str, statement_key: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig()  # either semantic conventions' names (the stable ones since semconv 1.26)
    span = rig.tracer.start_span("SELECT", kind=SpanKind.CLIENT, attributes={system_key: "postgresql", statement_key: "SELECT pg_sleep(0.2)"}, start_time=0)
    span.end(end_time=200 * MS)
    (span,) = rig.exporter.get_finished_spans()
    assert span.attributes["trainerhub.db.slow"] is True
    (line,) = _slow_lines(caplog)
    assert line.route == "unknown" and line.duration_ms == 200.0
    (point,) = rig.metric_points("trainerhub.db.slow_queries")
    assert point.attributes["trainerhub.root.kind"] == "other" and point.attributes["db.query.summary"] == "SELECT"


def test_cardinality_and_lines_are_bounded(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    monkeypatch.setattr(slow_queries, "_MAX_SERIES", 3)
    monkeypatch.setattr(slow_queries, "_MAX_PER_ROOT", 4)
    rig = make_rig(slow_query_threshold_s=0.001)
    _request(rig, *[(f"SELECT * FROM t{i}", 2) for i in range(6)])
    assert len(_slow_lines(caplog)) == 4
    (unlisted,) = [r for r in caplog.records if r.getMessage() == "Slow queries not listed"]
    assert unlisted.query_count == 2
    points = {p.attributes["trainerhub.db.statement.fingerprint"]: p.value for p in rig.metric_points("trainerhub.db.slow_queries")}
    assert len(points) == 4 and points["other"] == 3 and sum(points.values()) == 6  # 3 series, then "other"


def test_statements_at_or_under_the_threshold_are_not_slow(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig()
    _request(rig, *[("SELECT 1", 99)] * 3)
    assert _slow_lines(caplog) == [] and rig.metric_points("trainerhub.db.slow_queries") == []
    assert not any("trainerhub.db.slow" in s.attributes for s in rig.exporter.get_finished_spans())


@pytest.mark.parametrize(("statement", "expected"), [
    ('SELECT "b"."id" FROM "bookings_booking" "b"', "SELECT bookings_booking"),
    ('INSERT INTO "public"."users" ("a") VALUES (?)', "INSERT public.users"),
    ('UPDATE "t" SET "a" = ?', "UPDATE t"),
    ("DELETE FROM t WHERE id = ?", "DELETE t"),
    ("select pg_sleep(?)", "SELECT"),
    ("(SELECT 1)", "other"),
    ("", "other"),
])
def test_summary_is_operation_and_first_table(statement: str, expected: str) -> None:
    assert summary(statement) == expected



def _line_of(marker: str) -> int:
    """The line of this file with ``marker`` (test_attribution's helper reads its own file)."""
    lines = open(__file__).read().splitlines()
    return next(n for n, line in enumerate(lines, 1) if marker in line and "_line_of" not in line)
