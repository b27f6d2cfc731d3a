"""Readable, low-cardinality routes for server spans, whatever URLconf the project has.

The contrib instrumentation names a span after ``ResolverMatch.route`` as Django joins it:
``""`` for a ``path("")`` home page (so no ``http.route`` at all), and the raw regular
expression for ``re_path`` and DRF router routes (``api/threads/(?P<thread_pk>[^/.]+)/posts/$``).
``template()`` turns those into ``/`` and ``api/threads/{thread_pk}/posts/``; ``path()``
templates (``api/bookings/<int:booking_id>/``) are kept as Django writes them.
Requests that match no URL pattern share one span name, ``"<METHOD> unmatched"``.
"""

from __future__ import annotations

from functools import lru_cache

from otel_trainerhub.attributes import UNMATCHED_ROUTE as UNMATCHED

__all__ = ["UNMATCHED", "template"]

_REGEX_MARKS = frozenset("^$\\()[]?*+|")
_QUANTIFIERS = "?*+"


@lru_cache(maxsize=1024)
def template(route: str) -> str:
    """The route shown in span names, ``http.route``, logs and metrics."""
    if any(ch in _REGEX_MARKS for ch in route):
        route = _from_regex(route)
    if not route:
        return "/"
    return route


def _closing(pattern: str, start: int, opening: str, closing: str) -> int:
    """Index of the bracket closing the one at ``start`` (escapes and classes respected)."""
    depth = 0
    i = start
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[" and opening != "[":
            in_class = True
        elif ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return len(pattern) - 1


def _skip_quantifier(pattern: str, i: int) -> int:
    if i < len(pattern) and pattern[i] in _QUANTIFIERS:
        i += 1
        if i < len(pattern) and pattern[i] == "?":  # lazy
            i += 1
    elif i < len(pattern) and pattern[i] == "{" and "}" in pattern[i:]:
        i = pattern.index("}", i) + 1
    return i


def _from_regex(pattern: str, counter: list[int] | None = None) -> str:
    counter = counter if counter is not None else [0]
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt.isalnum():  # \d, \w, \Z ...: a class or an anchor, not literal text
                out.append("" if nxt in "AZzb" else "{}")
            else:
                out.append(nxt)
            i = _skip_quantifier(pattern, i + 2)
        elif ch in "^$":
            i += 1
        elif ch == "(":
            end = _closing(pattern, i, "(", ")")
            inner = pattern[i + 1 : end]
            if inner.startswith("?P<") and ">" in inner:
                out.append("{" + inner[3 : inner.index(">")] + "}")
            elif inner.startswith("?:"):
                out.append(_from_regex(inner[2:], counter))
            else:
                counter[0] += 1
                out.append("{arg%d}" % counter[0])
            i = _skip_quantifier(pattern, end + 1)
        elif ch == "[":
            i = _skip_quantifier(pattern, _closing(pattern, i, "[", "]") + 1)
            out.append("{}")
        elif ch in _QUANTIFIERS or ch == "|":
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)
