"""The one redaction policy, applied to log lines, exported log records, span attributes and Sentry events.

Two rules:

* **by key**: a value stored under a sensitive name (password, pw, token, secret, api key,
  authorization, cookie, session, card number, phone, DSN...) is replaced whole;
* **in free text**: card numbers (13-19 digits passing the Luhn check, or anything written
  in card groups such as ``4111 1111 1111 111x``), e-mail addresses, phone numbers
  (``+`` and 7-15 digits, or written in groups: ``(555) 123-4567``, ``555.123.4567``),
  ``Bearer``/``Basic`` credentials and ``key=value`` pairs with a sensitive key are masked
  wherever they appear in a string; control characters (newlines included) are escaped, so
  user input cannot forge a second log line.

Any other object (Django's ``<WSGIRequest: GET '/?password=...'>``) is redacted as its repr,
and every value is cut at ``value_length_limit`` characters with a visible marker.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

from otel_trainerhub.attributes import DB_QUERY_COUNT, TRUNCATION_MARKER
from otel_trainerhub.sql import sanitize

__all__ = ["REDACTED", "cap", "is_sensitive_key", "redact_text", "redact_value", "redact_mapping", "set_value_length_limit"]

REDACTED: Final = "[REDACTED]"
value_length_limit = 2048
# Values orjson writes well as they are: nothing of a user's in them.
_PLAIN_TYPES: Final = (datetime.date, datetime.time, datetime.timedelta, uuid.UUID, decimal.Decimal)


def set_value_length_limit(limit: int) -> None:
    global value_length_limit
    value_length_limit = limit


def _redact_bounded(text: str, escape_control: bool) -> str:
    """Redacted, then cut: a secret across the cut is masked whole, never half shown. Only a
    prefix twice the limit is scanned (what lies past it is cut anyway), so the cost is bounded."""
    return cap(redact_text(text[: 2 * value_length_limit + 64], escape_control=escape_control))


def cap(text: str, limit: int | None = None) -> str:
    """``text`` cut to ``limit`` characters (the configured one by default), marker included."""
    limit = value_length_limit if limit is None else limit
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(TRUNCATION_MARKER))] + TRUNCATION_MARKER

_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_.]?key|apikey|authorization|(^|[-_.])auth([-_.]|$)|cookie|session|csrf|"
    r"card[-_.]?(number|num|no)|^pan$|cvv|cvc|dsn|private[-_.]?key|credential|signature|x[-_]sentry[-_]auth|monitoring[-_]key|"
    r"(^|[-_.])pwd?\d*([-_.]|$)|phone|mobile|msisdn",
    re.IGNORECASE,
)
# Keys that look sensitive by the pattern but are telemetry we keep.
_ALLOWED_KEYS: Final = frozenset(
    {DB_QUERY_COUNT, "session_id_present", "http.request.header.content-length", "auth_method"}
)

_CARD = re.compile(r"(?<![\w])(?:\d[ -]?){12,18}\d(?![\w])")
# Written in card groups (4111 1111 1111 111x): masked whatever the check digit says.
_CARD_GROUPS = re.compile(r"(?<![\w])\d{4}([ -])\d{4}\1\d{4}\1[\dA-Za-z*]{1,7}(?![\w])")
# An address in a URL ("/users/ana%40example.com/", "?email=ana%40example.com") too.
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_CREDENTIAL = re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=\-]{4,}", re.IGNORECASE)
# key=value, key: value, "key": "value", 'key': 'value' where the key ends in a sensitive
# word (a word of its own: "Unauthorized: /path" is not a secret).
_PAIR = re.compile(
    r"(?P<key>\b[\w.\-]*?(?:pass(?:word|wd|phrase)?|pwd?\d*|phone|mobile|secret|token|api[-_]?key|apikey|authorization|auth|cookie|"
    r"session(?:_?id)?|csrf(?:_?token)?|card(?:_?(?:number|num|no))?|cvv|cvc|signature)(?:[-_](?:id|key|value|token|number|hash))?)\b"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?!(?:Bearer|Basic|Token|Digest)\s|\[REDACTED\])"
    r"(?P<value>(?<=[\"'])[^\"']+|[^&\s,;\"'}]+)",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w+.])(?:\+\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?![\w])|(?<![\w+])\+\d(?:[ .-]?\d){6,14}(?![\w])"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# PostgreSQL's error text repeats the statement and the row's values: "LINE 1: SELECT ... WHERE
# pin = 4242", "DETAIL:  Key (phone)=(+1 555 0100) already exists.", "Failing row contains
# (7, ana, null)." psycopg puts them in str(exc), which reaches status descriptions,
# exception events, logs and Sentry. The statement gets the SQL policy, the values a "?".
_DB_LINE_HINT, _DB_KEY_HINT, _DB_ROW_HINT = "LINE ", "ey (", "Failing row contains ("  # each pattern below needs one
# Redis's "unknown command 'X', with args beginning with: 'key' 'value' " quotes the arguments.
_REDIS_ARGS_HINT: Final = "with args beginning with:"
_REDIS_ARGS = re.compile(r"(with args beginning with:).*$", re.MULTILINE)
_DB_ERROR_LINE = re.compile(r"^(LINE \d+: )(.*)$", re.MULTILINE)
_DB_ERROR_VALUES = re.compile(
    r"\b([Kk]ey \([^\n]*?\)=\().*?(\)(?= already exists| is not present| conflicts with|\.?$))|\b([Kk]ey \([^\n]*?\)=\().*$"
    r"|(Failing row contains \().*$",
    re.MULTILINE,
)
# Cheap pre-checks, each a superset of what its pattern can match, so most strings (URLs,
# user agents, routes) skip the costly scans: _PAIR alone takes 10-25 us on a user agent.
# Card numbers (either pattern) need 12 digits in a row, with single separators, at least.
_CARD_HINT = re.compile(r"\d(?:[ -]?\d){11}")
_CREDENTIAL_WORDS: Final = ("bearer", "basic", "token", "digest")
_PHONE_HINT = re.compile(r"\d{3}\)?[ .-]\d{3}[ .-]\d{4}|\+\d")
_PAIR_WORDS: Final = ("pass", "pw", "phone", "mobile", "secret", "token", "key", "auth", "cookie", "session", "csrf", "card", "cvv", "cvc", "signature")


@lru_cache(maxsize=2048)
def is_sensitive_key(key: str) -> bool:
    return key not in _ALLOWED_KEYS and _SENSITIVE_KEY.search(key) is not None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _mask_credential(match: re.Match[str]) -> str:
    return f"{match.group(1)} {REDACTED}"


def _mask_pair(match: re.Match[str]) -> str:
    return f"{match.group('key')}{match.group('sep')}{REDACTED}"


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group(0)):02x}"


#: Texts up to this long are remembered with their masked form: the same user agents, paths
#: and URLs come back on request after request (the span and the request line scan each).
_REMEMBERED_LENGTH: Final = 512


def redact_text(text: str, *, escape_control: bool = True) -> str:
    """``text`` with secrets in free text masked (and control characters escaped)."""
    if len(text) <= _REMEMBERED_LENGTH:
        return _remembered(text, escape_control)
    return _scan(text, escape_control)


def _scan(text: str, escape_control: bool) -> str:
    # Case-insensitive patterns: the words are looked for in the lowered text, which is
    # exact for ASCII; other text (where re's case folding differs from str.lower) gets every scan.
    lowered = text.lower() if text.isascii() else None
    if _DB_LINE_HINT in text or _DB_KEY_HINT in text or _DB_ROW_HINT in text:
        text = _DB_ERROR_LINE.sub(_mask_statement_line, text)
        text = _DB_ERROR_VALUES.sub(_mask_row_values, text)
    if _REDIS_ARGS_HINT in text:
        text = _REDIS_ARGS.sub(r"\1?", text)
    if _CARD_HINT.search(text):
        text = _CARD.sub(_mask_card, text)
        text = _CARD_GROUPS.sub("[CARD]", text)
    if lowered is None or any(word in lowered for word in _CREDENTIAL_WORDS):
        text = _CREDENTIAL.sub(_mask_credential, text)
    if ("=" in text or ":" in text) and (lowered is None or any(word in lowered for word in _PAIR_WORDS)):
        text = _PAIR.sub(_mask_pair, text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _PHONE_HINT.search(text):
        text = _PHONE.sub("[PHONE]", text)
    if escape_control and _CONTROL.search(text):
        text = _CONTROL.sub(_escape_control, text)
    return text


def _mask_statement_line(match: re.Match[str]) -> str:
    return match.group(1) + sanitize(match.group(2))


def _mask_row_values(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1) + "?" + match.group(2)
    return (match.group(3) or match.group(4)) + "?)"


# Bounded: 4,096 texts of at most 512 characters. It holds raw texts in this process's memory
# only, as the requests that carried them already did; nothing reads it but this module.
_remembered = lru_cache(maxsize=4096)(_scan)


def redact_value(key: str, value: Any, *, escape_control: bool = True) -> Any:
    """A value under ``key``: replaced whole if the key is sensitive, else masked inside."""
    if is_sensitive_key(key):
        return REDACTED if value not in (None, "", b"") else value
    if isinstance(value, str):
        return _redact_bounded(value, escape_control)
    if isinstance(value, Mapping):
        return redact_mapping(value, escape_control=escape_control)
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(key, v, escape_control=escape_control) for v in value)
    if value is None or isinstance(value, (bool, int, float, bytes, *_PLAIN_TYPES)):
        return value
    # An object: what the JSON line would show of it is its repr, redacted like text.
    return _redact_bounded(repr(value), escape_control)


def redact_mapping(values: Mapping[str, Any], *, escape_control: bool = True) -> dict[str, Any]:
    return {k: redact_value(str(k), v, escape_control=escape_control) for k, v in values.items()}
