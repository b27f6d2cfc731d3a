import re

import pytest

from otel_trainerhub.sql import fingerprint, sanitize


def test_placeholders_survive_and_literals_are_masked() -> None:
    assert sanitize('SELECT "u"."id" FROM "users" WHERE "u"."email" = %s LIMIT 21') == 'SELECT "u"."id" FROM "users" WHERE "u"."email" = %s LIMIT ?'
    assert sanitize("SELECT * FROM users WHERE email = 'ana@example.com' AND pin = 4242") == "SELECT * FROM users WHERE email = ? AND pin = ?"
    assert sanitize("UPDATE cards SET number = '4111 1111 1111 1111' WHERE id = $1") == "UPDATE cards SET number = ? WHERE id = $1"


def test_tricky_literals() -> None:
    assert sanitize("SELECT 'it''s', E'a\\'b', $$dollar 'quoted'$$, $tag$x$tag$") == "SELECT ?, ?, ?, ?"
    assert sanitize("SELECT 1.5e3, -7, .5 FROM t1 JOIN t2 ON t1.c2 = t2.c2") == "SELECT ?, ?, ? FROM t1 JOIN t2 ON t1.c2 = t2.c2"
    assert sanitize('SELECT "col 1" FROM "t" -- it\'s a comment') == 'SELECT "col 1" FROM "t" -- it\'s a comment'
    # an unterminated literal is masked to the end rather than leaked
    assert sanitize("SELECT 'secret") == "SELECT ?"


def test_fingerprint_folds_values_in_lists_and_comments() -> None:
    a = fingerprint('SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (%s, %s, %s)  /* c */')
    b = fingerprint('SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (%s)')
    assert a == b == 'SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (...)'
    assert fingerprint("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')") == "INSERT INTO t (a, b) VALUES (?, ?), ..."
    assert fingerprint("SELECT * FROM t WHERE id = 1") == fingerprint("SELECT  *  FROM t WHERE id = 99")


# --- SQL comments (OTEL_TRAINERHUB_SQL_COMMENTS) -----------------------------------------


def test_a_trailing_sqlcommenter_comment_is_taken_off_span_statements_and_nothing_else() -> None:
    from otel_trainerhub.sql import uncommented

    assert uncommented("SELECT 1 /*app='a',route='api/x/%3Cint%3Apk%3E/'*/") == "SELECT 1"
    assert uncommented("SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/") == "SELECT 1"
    for kept in ("SELECT 1 /* a note */", "SELECT '/*a=''b''*/'", "SELECT 1 /*a='b'*/ FROM t", "SELECT 1"):
        assert uncommented(kept) == kept


def _match(**fields: str) -> object:
    import types

    return types.SimpleNamespace(func=len, **fields)


def test_statements_get_the_route_view_and_app_of_their_request() -> None:
    from otel_trainerhub.instrumentation.django import sqlcomments
    from otel_trainerhub.instrumentation.django.identity import CURRENT_REQUEST

    request = type("Request", (), {})()
    request.resolver_match = _match(route="api/bookings/<int:booking_id>/", view_name="booking-detail", app_name="bookings")
    token = CURRENT_REQUEST.set(request)
    try:
        commented = sqlcomments._commented('SELECT "id" FROM "bookings_booking" WHERE "id" = %s')
        assert commented == ('SELECT "id" FROM "bookings_booking" WHERE "id" = %s'
                             " /*app='bookings',controller='booking-detail',route='api/bookings/<int:booking_id>/'*/")
        # A statement with a comment of its own is left as it is (the format's rule), as is a
        # request Django has not resolved yet.
        assert sqlcomments._commented("SELECT 1 -- mine") == "SELECT 1 -- mine"
        request.resolver_match = None
        assert sqlcomments._commented("SELECT 1") == "SELECT 1"
        # What could break out of the comment or the quotes is URL-encoded.
        request.resolver_match = _match(route="x'*/; DROP TABLE t; --", view_name="v", app_name="a")
        commented = sqlcomments._commented("SELECT 1")
        comment = commented[len("SELECT 1 /*"):-2]
        assert commented.count("*/") == 1 and commented.endswith("*/"), commented
        assert re.fullmatch(r"(?:[\w.%-]+='[^'*;\s]*',?)+", comment), comment
    finally:
        CURRENT_REQUEST.reset(token)


def test_traceparent_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from otel_trainerhub.instrumentation.django import sqlcomments

    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("task") as span:
        assert sqlcomments._commented("SELECT 1") == "SELECT 1"  # no request, no task: nothing to say
        monkeypatch.setattr(sqlcomments, "_with_traceparent", True)
        context = span.get_span_context()
        assert sqlcomments._commented("SELECT 1") == f"SELECT 1 /*traceparent='00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}'*/"
