"""SQL text policy: literal values never leave the process, statements get a stable fingerprint.

Django sends parameterised statements (``%s`` placeholders), so usually nothing changes;
raw SQL written with literals inline (``WHERE email = 'a@b.c'``) is masked before it
reaches a span, and the fingerprint also folds ``IN (...)`` lists so that the queries of
an N+1 loop share one fingerprint.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["fingerprint", "sanitize", "summary", "uncommented"]

# One alternation, scanned left to right, so a quote inside a comment or an identifier
# inside a string is never mistaken for the other.
_TOKENS = re.compile(
    r"""
      (?P<comment>--[^\n]*|/\*.*?\*/)
    | (?P<ident>"(?:[^"]|"")*")
    | (?P<string>[EeBbXxNn]?'(?:[^'\\]|''|\\.)*'?)
    | (?P<dollar>\$(?P<tag>[A-Za-z_]*)\$.*?(?:\$(?P=tag)\$|$))
    | (?P<placeholder>%(?:\(\w+\))?s|\$\d+|\?)
    | (?P<number>(?<![\w.])-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w]))
    | (?P<word>[A-Za-z_][\w$]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_IN_LIST = re.compile(r"\bIN\s*\(\s*\?(?:\s*,\s*\?)*\s*\)", re.IGNORECASE)
_VALUES_ROWS = re.compile(r"(\(\s*\?(?:\s*,\s*\?)*\s*\))(?:\s*,\s*\(\s*\?(?:\s*,\s*\?)*\s*\))+")
_SPACE = re.compile(r"\s+")
# A trailing comment in the sqlcommenter format (key='value' pairs, URL-encoded).
_SQLCOMMENTER = re.compile(r"\s*/\*[\w.%-]+='[^']*'(?:,[\w.%-]+='[^']*')*\*/\s*\Z")
_TARGET = re.compile(r'\b(?:FROM|INTO|UPDATE|TABLE)\s+((?:"[^"]{1,63}"|\w{1,63})(?:\.(?:"[^"]{1,63}"|\w{1,63}))?)', re.IGNORECASE)


_LITERALS = frozenset({"string", "dollar", "number"})
_VALUES = _LITERALS | {"placeholder"}


def _mask_literals(match: re.Match[str]) -> str:
    return "?" if match.lastgroup in _LITERALS else match.group(0)


def _mask_values(match: re.Match[str]) -> str:
    """Literals and placeholders to ``?``, comments dropped: what differs between runs of one query."""
    kind = match.lastgroup
    if kind == "comment":
        return ""
    return "?" if kind in _VALUES else match.group(0)


def uncommented(statement: str) -> str:
    """The statement without a trailing sqlcommenter comment (ours, OTEL_TRAINERHUB_SQL_COMMENTS,
    or contrib's): spans show the statement as the code wrote it, as contrib's spans do."""
    if not statement.endswith("*/"):
        return statement
    match = _SQLCOMMENTER.search(statement, max(0, len(statement) - 1024))
    return statement[: match.start()] if match else statement


@lru_cache(maxsize=4096)
def sanitize(statement: str) -> str:
    """The statement with every literal (string, number, dollar-quoted) replaced by ``?``.

    Placeholders are kept as written; comments and identifiers are left alone.
    """
    return _TOKENS.sub(_mask_literals, statement)


@lru_cache(maxsize=4096)
def fingerprint(statement: str) -> str:
    """A normalised form shared by every run of "the same query" with other values."""
    text = _TOKENS.sub(_mask_values, statement)
    text = _IN_LIST.sub("IN (...)", text)
    text = _VALUES_ROWS.sub(r"\1, ...", text)
    return _SPACE.sub(" ", text).strip()


@lru_cache(maxsize=1024)
def summary(statement: str) -> str:
    """A low-cardinality name for a statement, as the semantic conventions' ``db.query.summary``:
    its operation and first table (``SELECT bookings_booking``), or the operation alone."""
    words = statement[:32].split(None, 1)
    if not words or not words[0].isalpha():
        return "other"
    operation = words[0].upper()[:16]
    target = _TARGET.search(statement, 0, 4096)
    return f"{operation} {target.group(1).replace(chr(34), '')}" if target else operation
