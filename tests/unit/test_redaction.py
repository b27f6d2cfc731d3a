"""The one redaction policy: free text, keys, and span attributes."""

from __future__ import annotations

import datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_trainerhub.processors.redaction import RedactionProcessor
from otel_trainerhub.attributes import TRUNCATION_MARKER
from otel_trainerhub.redaction import REDACTED, redact_mapping, redact_text, redact_value

CARD = "4111 1111 1111 1111"


def test_card_numbers_are_masked_only_when_they_pass_luhn() -> None:
    assert redact_text(f"charged {CARD} ok") == "charged [CARD] ok"
    assert redact_text("card 4000-0000-0000-0002 declined") == "card [CARD] declined"
    assert redact_text("4111111111111111") == "[CARD]"
    assert redact_text("order 1234567890123 shipped") == "order 1234567890123 shipped"  # fails Luhn
    assert redact_text("malformed card number '4111 1111 1111 111x'") == "malformed card number '[CARD]'"
    assert redact_text("GET /api/trainers/12/schedule/ 200 in 35 ms") == "GET /api/trainers/12/schedule/ 200 in 35 ms"


def test_emails_credentials_and_sensitive_pairs() -> None:
    assert redact_text("welcome ana.silva@example.com!") == "welcome [EMAIL]!"
    # URL-encoded, in a path or a query string
    assert redact_text("/users/ana.silva%40example.com/?email=ana%40Example.org&x=1") == "/users/[EMAIL]/?email=[EMAIL]&x=1"
    assert redact_text("Authorization: Bearer abcDEF123.456-xyz") == "Authorization: Bearer [REDACTED]"
    assert redact_text("GET /login?user=ana&password=hunter2&next=/") == f"GET /login?user=ana&password={REDACTED}&next=/"
    assert redact_text("/cb?api_key=k-123&x=1") == f"/cb?api_key={REDACTED}&x=1"
    assert redact_text('{"token": "tok_live_abc", "plan": "pro"}') == f'{{"token": "{REDACTED}", "plan": "pro"}}'
    assert redact_text("sessionid=7f9a; csrftoken=abc") == f"sessionid={REDACTED}; csrftoken={REDACTED}"
    assert redact_text("{'plan': 'pro', 'card_number': '4111 1111 1111 111x'}") == f"{{'plan': 'pro', 'card_number': '{REDACTED}'}}"
    assert redact_text("Unauthorized: /api/bookings/") == "Unauthorized: /api/bookings/"
    assert redact_text("tokens_used=5 author=ana") == "tokens_used=5 author=ana"


def test_control_characters_cannot_forge_a_line() -> None:
    forged = 'ana\n{"levelname": "INFO", "message": "admin logged in"}\r'
    masked = redact_text(forged)
    assert "\n" not in masked and "\r" not in masked
    assert masked.startswith("ana\\x0a")


def test_by_key_replaces_the_whole_value_recursively() -> None:
    payload = {
        "username": "ana",
        "password": "hunter2",
        "profile": {"api_key": "k", "email": "ana@example.com", "cards": [{"card_number": CARD}]},
        "headers": {"Authorization": "Bearer x", "Cookie": "sessionid=1", "Accept": "json"},
    }
    assert redact_mapping(payload) == {
        "username": "ana",
        "password": REDACTED,
        "profile": {"api_key": REDACTED, "email": "[EMAIL]", "cards": [{"card_number": REDACTED}]},
        "headers": {"Authorization": REDACTED, "Cookie": REDACTED, "Accept": "json"},
    }
    assert redact_value("author", "Ana") == "Ana"  # not every 'auth' is a secret
    assert redact_value("trainerhub.db.query_count", 5) == 5


def test_span_attributes_and_exception_events_are_redacted() -> None:
    provider = TracerProvider()
    provider.add_span_processor(RedactionProcessor(scan_headers=True))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span(
        "GET api/x/",
        kind=SpanKind.SERVER,
        attributes={
            "http.url": "http://h/api/x/?token=abc123&page=2",
            "http.target": "/api/x/?password=hunter2",
            "http.request.header.authorization": ("Bearer abc",),
            "http.request.header.cookie": ("sessionid=1",),
            "http.request.header.accept": ("application/json",),
        },
    ) as span:
        error = ValueError(f"malformed card number {CARD + 'x'!r} for ana@example.com")
        span.record_exception(error)
        # What the Django instrumentation does with an unhandled exception.
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    (done,) = exporter.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR and done.status.description.startswith("ValueError: malformed card number")
    assert "4111" not in done.status.description and "ana@" not in done.status.description
    assert done.attributes["http.url"] == f"http://h/api/x/?token={REDACTED}&page=2"
    assert done.attributes["http.target"] == f"/api/x/?password={REDACTED}"
    assert done.attributes["http.request.header.authorization"] == REDACTED
    assert done.attributes["http.request.header.cookie"] == REDACTED
    assert done.attributes["http.request.header.accept"] == ("application/json",)
    (event,) = done.events
    assert "4111" not in event.attributes["exception.message"] and "ana@" not in event.attributes["exception.message"]
    assert "4111" not in event.attributes["exception.stacktrace"]


def _every_scan(text: str) -> str:
    """The policy with no pre-check: what redact_text must equal whatever its shortcuts skip."""
    from otel_trainerhub import redaction as r

    text = r._DB_ERROR_LINE.sub(r._mask_statement_line, text)
    text = r._DB_ERROR_VALUES.sub(r._mask_row_values, text)
    text = r._REDIS_ARGS.sub(r"\1?", text)
    text = r._CARD.sub(r._mask_card, text)
    text = r._CARD_GROUPS.sub("[CARD]", text)
    text = r._CREDENTIAL.sub(r._mask_credential, text)
    text = r._PAIR.sub(r._mask_pair, text)
    text = r._EMAIL.sub("[EMAIL]", text)
    return r._CONTROL.sub(r._escape_control, text)


def test_the_pre_checks_never_skip_a_scan_that_would_mask_something() -> None:
    import random

    fragments = [
        "PassWord", "pAsSwD", "Secret", "TOKEN", "x-Api-Key", "apikey", "AUTHORIZATION", "auth", "Cookie",
        "sessionid", "CSRF_token", "card_no", "CVV", "cvc", "Signature", "Bearer", "basic", "Digest",
        "=", ":", ": ", '"', "'", " ", "&", ";", "/", "?", "-", ".", "@", "%40", "ana.silva@example.com", "ana%40example.com",
        "4111 1111 1111 1111", "4111-1111-1111-111x", "4111 1111 1111 x", "4111111111111111", "123456789012", "12345678", "1 2 3 4 5 6 7 8",
        "2026-11-27", "8000", "abcDEF123", "hunter2", "\n", "\x7f", "ſ", "K", "ı", "é", "İ", "ＰＡＳＳ",
        "LINE 1: ", "LINE", "DETAIL:  Key (", ")=(", ") already exists", "Failing row contains (", "DETAIL:", "'x'", " = 42", "with args beginning with:",
    ]
    rng = random.Random(20261127)
    differing = []
    for _ in range(20000):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(1, 9)))
        if redact_text(text) != _every_scan(text):
            differing.append(text)
    assert not differing, differing[:5]


@pytest.mark.parametrize(
    "error, expected",
    [
        # psycopg's str(exc): PostgreSQL's message, then its LINE and DETAIL parts
        ('syntax error at or near "SELEC"\nLINE 1: SELEC name FROM t WHERE pin = 4242 AND nick = \'ana\'\n        ^',
         'syntax error at or near "SELEC"\nLINE 1: SELEC name FROM t WHERE pin = ? AND nick = ?\n        ^'),
        ('duplicate key value violates unique constraint "u"\nDETAIL:  Key (phone)=(5550100123) already exists.',
         'duplicate key value violates unique constraint "u"\nDETAIL:  Key (phone)=(?) already exists.'),
        ('DETAIL:  Key (lower(name::text))=(ana (x)) already exists.', "DETAIL:  Key (lower(name::text))=(?) already exists."),
        ('DETAIL:  Key (trainer_id)=(42) is not present in table "t".', 'DETAIL:  Key (trainer_id)=(?) is not present in table "t".'),
        ("DETAIL:  Key (a, b)=(1, x) conflicts with existing key (a, b)=(1, y).", "DETAIL:  Key (a, b)=(?) conflicts with existing key (a, b)=(?)."),
        ("null value in column \"x\"\nDETAIL:  Failing row contains (7, ana, secret, null).", "null value in column \"x\"\nDETAIL:  Failing row contains (?)"),
        ("DETAIL:  Key (a)=(cut off", "DETAIL:  Key (a)=(?)"),
        ("the LINE 2: is not at a line start, 42", "the LINE 2: is not at a line start, 42"),
        # Redis quotes the arguments of a command it does not know
        ("unknown command 'FT.SEARCH', with args beginning with: 'idx' 'ana secret' ", "unknown command 'FT.SEARCH', with args beginning with:?"),
    ],
)
def test_database_errors_lose_the_statements_literals_and_the_rows_values(error: str, expected: str) -> None:
    assert redact_text(error, escape_control=False) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call +14155552671 today", "call [PHONE] today"),
        ("tel (555) 123-4567", "tel [PHONE]"),
        ("555.123.4567", "[PHONE]"),
        ("+44 20 7946 0958", "[PHONE]"),
        ("id 1796246466415307472 at 2026-12-02 21:30:00", "id 1796246466415307472 at 2026-12-02 21:30:00"),
        ("peer 192.168.100.100 ts=1796246466", "peer 192.168.100.100 ts=1796246466"),
        ("?pw2=hunter2&pwd=x&page=1", "?pw2=[REDACTED]&pwd=[REDACTED]&page=1"),
    ],
)
def test_phone_numbers_and_short_password_keys_in_free_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_objects_are_redacted_as_their_repr_and_every_value_is_capped() -> None:
    class Request:
        def __repr__(self) -> str:
            return "<WSGIRequest: GET '/api/bookings/?password=hunter2&email=a@b.example'>"

    assert redact_value("request", Request()) == "<WSGIRequest: GET '/api/bookings/?password=[REDACTED]&email=[EMAIL]'>"
    long = redact_value("user_agent", "A" * 10_000)
    assert len(long) == 2048 and long.endswith(TRUNCATION_MARKER)
    assert redact_value("phone_number", "555 123 4567") == REDACTED
    assert redact_value("when", datetime.date(2026, 12, 2)) == datetime.date(2026, 12, 2)


def test_a_secret_across_the_length_cut_is_masked_whole_not_half_shown() -> None:
    # cut first, the cut (2048 less the marker) would fall inside the card, leaving "4111 111"
    text = "x" * 2025 + " 4111 1111 1111 1111 " + "y" * 100
    capped = redact_value("note", text)
    assert len(capped) == 2048 and capped.endswith(TRUNCATION_MARKER)
    assert "4111 111" not in capped and "[CARD]" in capped


def test_several_over_long_span_attributes_are_all_cut_with_the_marker() -> None:
    # Found by tests/reliability's header fuzz: cutting one value while scanning the others
    # re-inserted its key mid-iteration, and the span lost its redaction.
    from opentelemetry.sdk.trace import SpanLimits

    provider = TracerProvider(span_limits=SpanLimits(max_attribute_length=2049))
    provider.add_span_processor(RedactionProcessor())
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    attributes = {"http.user_agent": "U" * 5000, "http.target": "/x/?password=hunter2&" + "p" * 5000, "http.method": "GET", "net.peer.ip": "198.51.100.7"}
    with provider.get_tracer("t").start_as_current_span("GET x/", attributes=attributes):
        pass
    (done,) = exporter.get_finished_spans()
    for key in ("http.user_agent", "http.target"):
        assert len(done.attributes[key]) == 2048 and done.attributes[key].endswith(TRUNCATION_MARKER), key
    assert "hunter2" not in done.attributes["http.target"]
    assert done.attributes["http.method"] == "GET" and done.attributes["net.peer.ip"] == "198.51.100.7"


def test_sentry_log_events_lose_the_secrets_in_their_arguments() -> None:
    # log.error("subscription charge failed for %s: %s", payload, exc) becomes a Sentry event
    # whose logentry.params are the arguments themselves: a dict, an exception.
    from otel_trainerhub.sentry import _redact

    payload = {"plan": "pro", "card_number": "4000 0000 0000 0002", "email": "ana@example.com"}
    event = {"logentry": {"message": "charge failed for %s: %s", "params": [payload, ValueError("card 4111 1111 1111 1111")]}}
    params = _redact(event)["logentry"]["params"]
    assert params[0] == {"plan": "pro", "card_number": REDACTED, "email": "[EMAIL]"}
    assert params[1] == "ValueError('card [CARD]')"
