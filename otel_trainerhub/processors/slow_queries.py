"""Slow statements: any one statement over ``SLOW_QUERY_THRESHOLD`` (0.1 s).

Its span is flagged (``trainerhub.db.slow``, which tail sampling keeps) as it ends, while
the application's frame that ran it is still on the stack; the finding waits on its root
(the request, task or command) for the route, then is logged once ("Slow query") and
counted by route and statement. The counter's labels are bounded: a statement's readable
summary (``SELECT bookings_booking``) and a short hash of its normalised text (the same
``fingerprint`` field as the log line, to go from a graph to the line), at most
``_MAX_SERIES`` route and statement pairs per process, later ones as ``other``.

Cost: one comparison per database span; the rest only for a slow one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import Meter
from opentelemetry.sdk.trace import Span

from otel_trainerhub._sdk import set_frozen_attributes, span_attributes
from otel_trainerhub.attributes import DB_QUERY_SUMMARY, DB_SLOW, DB_SLOW_QUERIES, ROOT_KIND, ROUTE, STATEMENT_FINGERPRINT
from otel_trainerhub.processors.roots import RootState
from otel_trainerhub.processors.source import application_frames, describe
from otel_trainerhub.sql import fingerprint, summary

__all__ = ["SlowQueries"]

_perf_log = logging.getLogger("otel_trainerhub.performance")
_MAX_PER_ROOT = 32  # listed and logged one by one; more are counted as one line
_MAX_SERIES = 500
_OTHER = "other"


def _hash(normalised: str) -> str:
    return hashlib.blake2b(normalised.encode("utf-8", "replace"), digest_size=4).hexdigest()


class SlowQueries:
    """Flags, logs and counts the statements over the threshold."""

    def __init__(self, meter: Meter, threshold_s: float, trace_fields: Callable[[Span], dict[str, str]]) -> None:
        self.threshold_ns = int(threshold_s * 1e9)
        self._trace_fields = trace_fields
        self._series: set[tuple[str, str]] = set()
        self._counter = meter.create_counter(
            DB_SLOW_QUERIES, unit="{query}",
            description="Statements over SLOW_QUERY_THRESHOLD, by route and statement",
        )

    def flag(self, span: Span, state: RootState | None, statement: Any, elapsed_ns: int) -> None:
        """A database span over the threshold, as it ends (its caller still on the stack)."""
        set_frozen_attributes(span_attributes(span), {DB_SLOW: True})
        frames = application_frames(2)
        source = describe(frames[0]) if frames else None
        normalised = fingerprint(statement) if isinstance(statement, str) else ""
        entry = (normalised, elapsed_ns, source, format(span.context.span_id, "016x"))
        if state is None:  # a statement that is its own root: nothing else to wait for
            self._report(span, "other", "unknown", [entry], 0)
            return
        with state.lock:
            listed = state.slow_queries
            if listed is None:
                listed = state.slow_queries = []
            if len(listed) < _MAX_PER_ROOT:
                listed.append(entry)
            else:
                state.slow_unlisted += 1

    def report(self, root: Span, kind: str, route: str, state: RootState) -> None:
        """At the root's end: one line and one count per slow statement under it."""
        if state.slow_queries:
            self._report(root, kind, route, state.slow_queries, state.slow_unlisted)

    def _report(self, root: Span, kind: str, route: str, listed: list[tuple[str, int, str | None, str]], unlisted: int) -> None:
        trace = self._trace_fields(root)
        for normalised, elapsed_ns, source, span_id in listed:
            digest = _hash(normalised)
            self._count(1, kind, route, summary(normalised), digest)
            _perf_log.warning("Slow query", extra={
                "statement": normalised, "duration_ms": round(elapsed_ns / 1e6, 2), "route": route,
                "source": source, "fingerprint": digest, "span_id": span_id, **trace,
            })
        if unlisted:
            self._count(unlisted, kind, route, _OTHER, _OTHER)
            _perf_log.warning("Slow queries not listed", extra={"route": route, "query_count": unlisted, **trace})

    def _count(self, n: int, kind: str, route: str, query_summary: str, digest: str) -> None:
        key = (route, digest)
        if key not in self._series:
            if len(self._series) >= _MAX_SERIES:
                query_summary = digest = _OTHER
            else:
                self._series.add(key)
        self._counter.add(n, {ROOT_KIND: kind, ROUTE: route, DB_QUERY_SUMMARY: query_summary, STATEMENT_FINGERPRINT: digest})
