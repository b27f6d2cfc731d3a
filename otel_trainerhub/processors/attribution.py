"""Per-root attribution, N+1 and slow-request detection.

For every *local root* span (a Django request, a Celery task run, a management command:
a span with no parent in this process, or a SERVER/CONSUMER span), the work its
descendants did is summed into a :class:`RootState`. When the root ends, the totals are
written onto it (before it is exported), findings are logged, and metrics recorded.

Cost model: ``on_start`` does one context lookup and one attribute store per span;
``_on_ending`` (called while the real span object is still at hand, before the SDK
builds the read-only copy that is exported) does a few dict lookups per span and, for
SQL, one cached fingerprint. Nothing is kept in a global table: a child holds its root's
state, so the state lives exactly as long as the spans that refer to it, and a root that
never ends cannot pin memory beyond its own lifetime. Fingerprints per root are capped.

Children that end after their root are not counted: the root is exported by then.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.trace import Span
from opentelemetry.trace import SpanKind

from otel_trainerhub.attributes import (
    CACHE_COMMAND_COUNT, CACHE_DURATION_MS, CACHE_HITS, CACHE_LOOKUPS, CACHE_MISSES, CACHE_RESULT, DB_DURATION_MS,
    DB_DURATION_RATIO, DB_QUERY_COUNT, HTTP_CLIENT_DURATION_MS, HTTP_CLIENT_REQUEST_COUNT, N_PLUS_ONE_COUNT, N_PLUS_ONE_FOUND,
    N_PLUS_ONE_INNERMOST, N_PLUS_ONE_SOURCE, N_PLUS_ONE_STATEMENT, REQUEST_DB_DURATION, REQUEST_DB_QUERIES, ROOT_KIND, ROUTE,
    SLOW, SLOW_COUNT,
)
from otel_trainerhub import _sdk
from otel_trainerhub._sdk import SPAN_KEY, context_is_remote, set_frozen_attributes, set_own_attributes, span_attribute_dict, span_attributes, span_kind, span_parent, span_times
from otel_trainerhub._sdk.metrics import FastHistogram
from otel_trainerhub.contain import swallowed
from otel_trainerhub.processors.base import OnEndingProcessor
from otel_trainerhub.processors.roots import RootState, route_of as _route
from otel_trainerhub.processors.slow_queries import SlowQueries
from otel_trainerhub.processors.source import application_frames, describe, repeating_frame
from otel_trainerhub.sql import fingerprint

__all__ = ["AttributionProcessor", "RootState"]

_perf_log = logging.getLogger("otel_trainerhub.performance")

# The attributes a span carries its root's state in: a root its own, a child its root's.
_ROOT = "_trainerhub_root"
_CHILD_OF = "_trainerhub_child_of"
_MAX_FINGERPRINTS = 256
_ROOT_KINDS = (SpanKind.SERVER, SpanKind.CONSUMER)
_CLIENT = SpanKind.CLIENT  # an enum member read from its class costs a lookup through the enum's type
_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START TRA", "SET ", "PRAGMA")


_current_context = _sdk.current_context_getter()


@lru_cache(maxsize=4096)
def _n_plus_one_key(statement: str) -> str | None:
    """The statement's fingerprint, or None for transaction control (BEGIN, SAVEPOINT...),
    which repeats by nature and is never an N+1."""
    if statement.lstrip()[:9].upper().startswith(_TRANSACTION_CONTROL):
        return None
    return fingerprint(statement)


def _db_system(attributes: Mapping[str, Any]) -> Any:
    return attributes.get("db.system") or attributes.get("db.system.name")  # old and stable conventions


def _db_statement(attributes: Mapping[str, Any]) -> Any:
    return attributes.get("db.statement") or attributes.get("db.query.text")


class AttributionProcessor(OnEndingProcessor):
    """Sums database, cache and outbound HTTP work onto each local root; flags N+1s and slow roots."""

    def __init__(
        self,
        meter_provider: MeterProvider,
        *,
        slow_threshold_s: float = 5.0,
        slow_route_thresholds_s: Mapping[str, float] | None = None,
        n_plus_one_threshold: int = 5,
        trace_view_url: str | None = None,
        slow_query_threshold_s: float = 0.1,
    ) -> None:
        self._trace_view_url = trace_view_url  # "...{trace_id}...": a link on the lines below
        self._slow_ns = int(slow_threshold_s * 1e9)
        self._slow_route_ns = {k.lstrip("/"): int(v * 1e9) for k, v in (slow_route_thresholds_s or {}).items()}
        self._n_plus_one = n_plus_one_threshold
        # Where a repeated statement comes from: frames kept at one repeat, compared at a later one.
        self._capture_at = max(2, n_plus_one_threshold - 1)
        self._compare_at = max(n_plus_one_threshold, 3)
        meter = meter_provider.get_meter("otel_trainerhub")
        self._slow_queries = SlowQueries(meter, slow_query_threshold_s, self._trace_fields)
        self._slow_query_ns = self._slow_queries.threshold_ns
        # Two records per root, each of few routes: the SDK's record without its per-record overhead.
        self._db_time = FastHistogram(meter.create_histogram(
            REQUEST_DB_DURATION,
            unit="s",
            description="Database time per request, task or command, by route",
            explicit_bucket_boundaries_advisory=[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        ))
        self._db_queries = FastHistogram(meter.create_histogram(
            REQUEST_DB_QUERIES,
            unit="{query}",
            description="Database queries per request, task or command, by route",
            explicit_bucket_boundaries_advisory=[0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144],
        ))
        self._slow = meter.create_counter(
            SLOW_COUNT, unit="{request}", description="Requests and tasks over the slow threshold, by route"
        )
        self._cache_lookups = meter.create_counter(
            CACHE_LOOKUPS, unit="{key}", description="Cache keys looked up (Redis GET, MGET), by route and hit or miss"
        )
        self._n_plus_one_found = meter.create_counter(
            N_PLUS_ONE_FOUND, unit="{request}", description="Requests and tasks with an N+1 query pattern, by route"
        )

    # -- span lifecycle --

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        parent = span_parent(span)
        if parent is None or context_is_remote(parent) or span_kind(span) in _ROOT_KINDS:
            setattr(span, _ROOT, RootState())
            return
        # get_current_span(parent_context), minus three Python calls: this runs for every span.
        context = parent_context if parent_context is not None else _current_context()
        parent_span = context.get(SPAN_KEY)
        state = getattr(parent_span, _ROOT, None) or getattr(parent_span, _CHILD_OF, None)
        if state is not None:
            setattr(span, _CHILD_OF, state)

    def _on_ending(self, span: Span) -> None:
        # A child carries its root's state as _CHILD_OF, a root its own as _ROOT (set in
        # on_start, so nothing here asks again which one a span is).
        state: RootState | None = getattr(span, _CHILD_OF, None)
        try:
            if state is None:
                state = getattr(span, _ROOT, None)
                if state is not None and state.open:
                    self._finish_root(span, state)
                return
            if not state.open:
                return
            attributes = span_attribute_dict(span)
            # _db_system and _db_statement written out: this runs for every child span.
            system = attributes.get("db.system") or attributes.get("db.system.name")
            if system is not None:
                started, ended = span_times(span)
                elapsed = ended - started
                # acquire and release, not a with block: half the cost, for every SQL and Redis span
                lock = state.lock
                if system == "redis":
                    lock.acquire()
                    try:
                        state.cache_count += 1
                        state.cache_ns += elapsed
                        state.cache_hits += attributes.get(CACHE_HITS, 0)
                        state.cache_misses += attributes.get(CACHE_MISSES, 0)
                    finally:
                        lock.release()
                    return
                statement = attributes.get("db.statement") or attributes.get("db.query.text")
                if elapsed > self._slow_query_ns:
                    self._slow_queries.flag(span, state, statement, elapsed)
                key = _n_plus_one_key(statement) if isinstance(statement, str) else None
                lock.acquire()
                try:
                    state.db_count += 1
                    state.db_ns += elapsed
                    if key is None:
                        return
                    seen = state.fingerprints.get(key)
                    if seen is None:
                        if len(state.fingerprints) >= _MAX_FINGERPRINTS:
                            return
                        seen = 0
                    count = state.fingerprints[key] = seen + 1
                finally:
                    lock.release()
                if count == self._capture_at or count == self._compare_at:
                    # Still on the caller's stack: two walks per finding, not one per query.
                    self._locate(state, key, count)
                return
            if span_kind(span) is _CLIENT and ("http.request.method" in attributes or "http.method" in attributes):
                started, ended = span_times(span)
                with state.lock:
                    state.http_count += 1
                    state.http_ns += ended - started
        except Exception:  # never into the application's code path (STYLE §3)
            swallowed("attribution")

    def _locate(self, state: RootState, key: str, count: int) -> None:
        frames = application_frames(2)
        if not frames:
            return
        innermost = describe(frames[0])
        if count == self._capture_at:
            state.n_plus_one_frames[key] = frames
            state.n_plus_one_source[key] = (innermost, innermost)
            return
        earlier = state.n_plus_one_frames.pop(key, None)
        if earlier is not None:
            loop = repeating_frame(earlier, frames)
            state.n_plus_one_source[key] = (describe(loop) if loop is not None else innermost, innermost)

    # -- the work --

    def _finish_root(self, span: Span, state: RootState) -> None:
        with state.lock:
            state.open = False
            fingerprints, state.fingerprints = state.fingerprints, {}
            state.n_plus_one_frames = {}  # no frame (and its locals) outlives the root
        started, ended = span_times(span)
        duration_ns = ended - started
        attributes = span_attribute_dict(span)
        kind, route = _route(attributes)
        if kind == "other" and duration_ns > self._slow_queries.threshold_ns and _db_system(attributes) not in (None, "redis"):
            self._slow_queries.flag(span, None, _db_statement(attributes), duration_ns)
        found: dict[str, Any] = {
            DB_QUERY_COUNT: state.db_count,
            DB_DURATION_MS: state.db_ns / 1e6,
            DB_DURATION_RATIO: state.db_ns / duration_ns if duration_ns > 0 else 0.0,
            CACHE_COMMAND_COUNT: state.cache_count,
            CACHE_DURATION_MS: state.cache_ns / 1e6,
            HTTP_CLIENT_REQUEST_COUNT: state.http_count,
            HTTP_CLIENT_DURATION_MS: state.http_ns / 1e6,
        }
        metric_attributes = {ROOT_KIND: kind, ROUTE: route}
        if state.cache_hits or state.cache_misses:  # (a root that is itself a GET keeps its own)
            found[CACHE_HITS], found[CACHE_MISSES] = state.cache_hits, state.cache_misses
        n_plus_one = self._worst_repeat(fingerprints)
        loop_source = innermost_source = None
        if n_plus_one is not None:
            statement, count = n_plus_one
            found[N_PLUS_ONE_FOUND] = True  # a tag Jaeger's search (and an alert's link) can match
            found[N_PLUS_ONE_COUNT] = count
            found[N_PLUS_ONE_STATEMENT] = statement
            source = state.n_plus_one_source.get(statement)
            if source:
                loop_source, innermost_source = source
                found[N_PLUS_ONE_SOURCE], found[N_PLUS_ONE_INNERMOST] = source
            self._n_plus_one_found.add(1, metric_attributes)
        # Requests and tasks have a latency budget; a management command (a migration) has none.
        slow = kind != "command" and duration_ns > self._slow_route_ns.get(route, self._slow_ns)
        if slow:
            found[SLOW] = True
            self._slow.add(1, metric_attributes)
        # The SDK froze the attributes just before _on_ending; the exported span shares them.
        set_own_attributes(span_attributes(span), found)
        self._db_time.record(state.db_ns / 1e9, metric_attributes)
        self._db_queries.record(state.db_count, metric_attributes)
        for result, count in (("hit", state.cache_hits), ("miss", state.cache_misses)):
            if count:
                self._cache_lookups.add(count, {**metric_attributes, CACHE_RESULT: result})
        self._slow_queries.report(span, kind, route, state)
        if slow:
            self._log_slow(span, kind, route, duration_ns, state)
        if n_plus_one is not None:
            _perf_log.warning(
                "N+1 query detected",
                extra={
                    "route": route,
                    "query_count": n_plus_one[1],
                    "statement": n_plus_one[0],
                    "source": loop_source,
                    "innermost_source": innermost_source,
                    **self._trace_fields(span),
                },
            )

    def _trace_fields(self, span: Span) -> dict[str, str]:
        trace_id = format(span.context.trace_id, "032x")
        if self._trace_view_url is None:
            return {"trace_id": trace_id}
        return {"trace_id": trace_id, "trace_url": self._trace_view_url.replace("{trace_id}", trace_id)}

    def _worst_repeat(self, fingerprints: dict[str, int]) -> tuple[str, int] | None:
        if not fingerprints:
            return None
        statement, count = max(fingerprints.items(), key=lambda item: item[1])
        return (statement, count) if count >= self._n_plus_one else None

    def _log_slow(self, span: Span, kind: str, route: str, duration_ns: int, state: RootState) -> None:
        attributes = span_attribute_dict(span)
        fields: dict[str, Any] = {
            "duration_ms": round(duration_ns / 1e6, 2),
            "db_queries": state.db_count,
            "db_time": round(state.db_ns / 1e9, 3),
            **self._trace_fields(span),
        }
        if kind == "task":
            fields = {"task_name": route, "task_id": attributes.get("celery.task_id") or attributes.get("messaging.message.id"), **fields}
            _perf_log.warning("Slow task", extra=fields)
            return
        path = attributes.get("url.path") or attributes.get("http.target") or route
        method = attributes.get("http.request.method") or attributes.get("http.method")
        _perf_log.warning("Slow request", extra={"path": path, "method": method, **fields, "route": route})
