"""The attribution processor with the SDK's in-memory exporter and metric reader."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import tracemalloc
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind

from otel_trainerhub.processors import (
    RECORD_ONLY,
    AttributionProcessor,
    EnrichingSpanProcessor,
    RecordEverySampler,
    RedactionProcessor,
    record_every,
)
from otel_trainerhub.processors.attribution import _n_plus_one_key
from otel_trainerhub.sql import fingerprint

MS = 1_000_000  # ns


@dataclass
class Rig:
    tracer: trace.Tracer
    exporter: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def roots(self) -> dict[str, dict]:
        return {s.name: dict(s.attributes) for s in self.exporter.get_finished_spans() if s.parent is None or s.kind == SpanKind.SERVER}

    def metric_points(self, name: str) -> list:
        data = self.metrics.get_metrics_data()
        return [
            p
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
            if m.name == name
            for p in m.data.data_points
        ]


def make_rig(*, sampler=None, **options) -> Rig:
    """Set up as otel_trainerhub.configure() does: attribution inline, the exporter added after it."""
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    pipeline = EnrichingSpanProcessor(RedactionProcessor(), AttributionProcessor(meter_provider, **options))
    provider = TracerProvider(sampler=sampler, active_span_processor=pipeline) if sampler else TracerProvider(active_span_processor=pipeline)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Rig(provider.get_tracer("test"), exporter, metrics)


@pytest.fixture()
def rig() -> Iterator[Rig]:
    yield make_rig(slow_threshold_s=0.5)


def db(tracer, statement: str, ms: float = 1.0, system: str = "postgresql", start: int | None = None) -> None:
    start = start if start is not None else 10_000 * MS
    span = tracer.start_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": system, "db.statement": statement}, start_time=start)
    span.end(end_time=start + int(ms * MS))


def test_nested_work_is_summed_onto_the_root(rig: Rig) -> None:
    t = rig.tracer
    root = t.start_span("GET api/bookings/", kind=SpanKind.SERVER, attributes={"http.route": "api/bookings/"}, start_time=0)
    with trace.use_span(root, end_on_exit=False):
        db(t, "SELECT 1", ms=2)
        with t.start_as_current_span("render"):
            db(t, "SELECT 2", ms=3)
            with t.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"db.system": "redis"}, start_time=0) as r:
                pass
            with t.start_as_current_span("POST", kind=SpanKind.CLIENT, attributes={"http.request.method": "POST"}) as h:
                pass
    root.end(end_time=100 * MS)
    attrs = rig.roots()["GET api/bookings/"]
    assert attrs["trainerhub.db.query_count"] == 2
    assert attrs["trainerhub.db.duration_ms"] == pytest.approx(5.0)
    assert attrs["trainerhub.db.duration_ratio"] == pytest.approx(0.05)
    assert attrs["trainerhub.cache.command_count"] == 1
    assert attrs["trainerhub.http_client.request_count"] == 1
    assert "trainerhub.slow" not in attrs and "trainerhub.n_plus_one.count" not in attrs


def test_a_root_with_no_children(rig: Rig) -> None:
    rig.tracer.start_span("manage.py check", attributes={"trainerhub.command.name": "check"}).end()
    attrs = rig.roots()["manage.py check"]
    assert attrs["trainerhub.db.query_count"] == 0
    assert attrs["trainerhub.db.duration_ms"] == 0.0
    assert attrs["trainerhub.cache.command_count"] == 0


def test_concurrent_roots_on_threads_keep_their_own_counts(rig: Rig) -> None:
    barrier = threading.Barrier(8)

    def request(i: int) -> None:
        with rig.tracer.start_as_current_span(f"root-{i}", kind=SpanKind.SERVER):
            barrier.wait()
            for _ in range(i):
                db(rig.tracer, f"SELECT {i}")

    threads = [threading.Thread(target=request, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    roots = rig.roots()
    assert {name: a["trainerhub.db.query_count"] for name, a in roots.items()} == {f"root-{i}": i for i in range(8)}


def test_async_views_interleaved_on_one_loop(rig: Rig) -> None:
    async def view(i: int) -> None:
        with rig.tracer.start_as_current_span(f"async-{i}", kind=SpanKind.SERVER):
            for _ in range(i + 1):
                await asyncio.sleep(0)
                db(rig.tracer, "SELECT %s")

    async def main() -> None:
        await asyncio.gather(*(view(i) for i in range(5)))

    asyncio.run(main())
    assert {n: a["trainerhub.db.query_count"] for n, a in rig.roots().items()} == {f"async-{i}": i + 1 for i in range(5)}


def test_out_of_order_ends_and_children_outliving_their_parent(rig: Rig) -> None:
    t = rig.tracer
    root = t.start_span("root", kind=SpanKind.SERVER, start_time=0)
    ctx = trace.set_span_in_context(root)
    first = t.start_span("first", context=ctx, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": "SELECT 1"}, start_time=1 * MS)
    second = t.start_span("second", context=ctx, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": "SELECT 2"}, start_time=2 * MS)
    parent = t.start_span("parent", context=ctx, start_time=3 * MS)
    orphan = t.start_span("orphan", context=trace.set_span_in_context(parent), kind=SpanKind.CLIENT, attributes={"db.system": "redis"}, start_time=4 * MS)
    second.end(end_time=5 * MS)
    parent.end(end_time=6 * MS)  # ends before its own child
    first.end(end_time=7 * MS)
    orphan.end(end_time=8 * MS)
    late = t.start_span("late", context=ctx, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": "SELECT 3"}, start_time=9 * MS)
    root.end(end_time=20 * MS)
    late.end(end_time=30 * MS)  # after the root: not counted, and no error
    attrs = rig.roots()["root"]
    assert attrs["trainerhub.db.query_count"] == 2
    assert attrs["trainerhub.db.duration_ms"] == pytest.approx(9.0)
    assert attrs["trainerhub.cache.command_count"] == 1


def test_n_plus_one_is_found_with_its_statement_count_and_source(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    with rig.tracer.start_as_current_span("GET api/trainers/", kind=SpanKind.SERVER, attributes={"http.route": "api/trainers/"}):
        for trainer_id in range(6):
            statement = f'SELECT "u"."name" FROM "users" "u" WHERE "u"."id" = {trainer_id} LIMIT 21'
            with rig.tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": statement}):  # the loop
                pass
        db(rig.tracer, 'SELECT "t"."id" FROM "trainers" "t" WHERE "t"."id" IN (1, 2, 3)')
    attrs = rig.roots()["GET api/trainers/"]
    assert attrs["trainerhub.n_plus_one"] is True and attrs["trainerhub.n_plus_one.count"] == 6
    assert attrs["trainerhub.n_plus_one.statement"] == 'SELECT "u"."name" FROM "users" "u" WHERE "u"."id" = ? LIMIT ?'
    assert attrs["trainerhub.n_plus_one.source"].endswith("test_attribution.py:" + str(_line_of("# the loop")))
    records = [r for r in caplog.records if r.getMessage() == "N+1 query detected"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert records[0].query_count == 6 and records[0].route == "api/trainers/"
    (point,) = rig.metric_points("trainerhub.n_plus_one")
    assert point.value == 1 and point.attributes == {"trainerhub.root.kind": "request", "trainerhub.route": "api/trainers/"}


def _line_of(marker: str) -> int:
    with open(__file__) as handle:
        for number, line in enumerate(handle, 1):
            if marker in line and "_line_of" not in line:
                return number
    raise AssertionError(marker)


def test_below_threshold_and_varied_statements_are_not_n_plus_one(rig: Rig) -> None:
    with rig.tracer.start_as_current_span("root", kind=SpanKind.SERVER):
        for i in range(4):
            db(rig.tracer, f"SELECT * FROM a WHERE id = {i}")
        for _ in range(10):
            db(rig.tracer, "SAVEPOINT s1")
            db(rig.tracer, "BEGIN")
            db(rig.tracer, "PRAGMA foreign_keys = OFF", system="sqlite")  # what a SQLite migration repeats
        for table in "bcdefgh":
            db(rig.tracer, f"SELECT * FROM {table} WHERE id = 1")
    attrs = rig.roots()["root"]
    assert "trainerhub.n_plus_one" not in attrs and "trainerhub.n_plus_one.count" not in attrs
    assert attrs["trainerhub.db.query_count"] == 4 + 7 + 30


def test_slow_request_is_flagged_logged_in_the_guides_shape_and_counted(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    root = rig.tracer.start_span(
        "GET api/bookings/",
        kind=SpanKind.SERVER,
        attributes={"http.route": "api/bookings/", "url.path": "/api/bookings/", "http.request.method": "GET"},
        start_time=0,
    )
    with trace.use_span(root, end_on_exit=False):
        for i in range(3):
            db(rig.tracer, "SELECT %s", ms=100, start=i * 100 * MS)
    root.end(end_time=850 * MS)
    assert rig.roots()["GET api/bookings/"]["trainerhub.slow"] is True
    (record,) = [r for r in caplog.records if r.getMessage() == "Slow request"]
    assert (record.path, record.method, record.duration_ms, record.db_queries, record.db_time) == ("/api/bookings/", "GET", 850.0, 3, 0.3)
    (point,) = rig.metric_points("trainerhub.slow")
    assert point.value == 1


def test_slow_task_logs_its_task_name() -> None:
    rig = make_rig(slow_threshold_s=0.01)
    logger = logging.getLogger("otel_trainerhub.performance")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        span = rig.tracer.start_span("run/x", kind=SpanKind.CONSUMER, attributes={"celery.task_name": "apps.x"}, start_time=0)
        span.end(end_time=50 * MS)
    finally:
        logger.removeHandler(handler)
    (record,) = records
    assert record.getMessage() == "Slow task" and record.task_name == "apps.x" and record.duration_ms == 50.0


def test_slow_and_n_plus_one_lines_link_their_trace_when_a_trace_view_is_configured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig(slow_threshold_s=0.01, trace_view_url="http://127.0.0.1:16686/trace/{trace_id}")
    root = rig.tracer.start_span("GET api/trainers/", kind=SpanKind.SERVER, attributes={"http.route": "api/trainers/"}, start_time=0)
    with trace.use_span(root, end_on_exit=False):
        for i in range(6):
            db(rig.tracer, "SELECT * FROM users_user WHERE id = %s", ms=1, start=i * MS)
    root.end(end_time=50 * MS)
    trace_id = format(root.get_span_context().trace_id, "032x")
    lines = {r.getMessage(): r for r in caplog.records}
    for message in ("Slow request", "N+1 query detected"):
        assert lines[message].trace_id == trace_id
        assert lines[message].trace_url == f"http://127.0.0.1:16686/trace/{trace_id}"


def test_commands_are_never_slow() -> None:
    rig = make_rig(slow_threshold_s=0.1)
    rig.tracer.start_span("manage.py migrate", attributes={"trainerhub.command.name": "migrate"}, start_time=0).end(end_time=5000 * MS)
    assert "trainerhub.slow" not in rig.roots()["manage.py migrate"]


def test_per_route_threshold_overrides_the_default() -> None:
    rig = make_rig(slow_threshold_s=0.5, slow_route_thresholds_s={"/api/reports/revenue/": 2.0})
    for route, ms in (("api/reports/revenue/", 900), ("api/bookings/", 900)):
        rig.tracer.start_span(route, kind=SpanKind.SERVER, attributes={"http.route": route}, start_time=0).end(end_time=ms * MS)
    roots = rig.roots()
    assert "trainerhub.slow" not in roots["api/reports/revenue/"]
    assert roots["api/bookings/"]["trainerhub.slow"] is True


def test_unsampled_requests_still_produce_metrics_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "otel_trainerhub.performance")
    rig = make_rig(sampler=RecordEverySampler(ALWAYS_OFF), slow_threshold_s=0.1)
    root = rig.tracer.start_span("GET x", kind=SpanKind.SERVER, attributes={"http.route": "x"}, start_time=0)
    with trace.use_span(root, end_on_exit=False):
        db(rig.tracer, "SELECT 1", ms=4)
    root.end(end_time=200 * MS)
    assert rig.exporter.get_finished_spans() == ()  # SimpleSpanProcessor exports sampled spans only
    (queries,) = rig.metric_points("trainerhub.request.db.queries")
    assert queries.sum == 1 and queries.attributes["trainerhub.route"] == "x"
    assert [r.getMessage() for r in caplog.records] == ["Slow request"]


def test_histograms_by_route() -> None:
    rig = make_rig()
    for i in range(3):
        root = rig.tracer.start_span("GET a", kind=SpanKind.SERVER, attributes={"http.route": "a/"}, start_time=0)
        with trace.use_span(root, end_on_exit=False):
            for _ in range(i + 1):
                db(rig.tracer, "SELECT 1", ms=10)
        root.end(end_time=100 * MS)
    (queries,) = rig.metric_points("trainerhub.request.db.queries")
    assert (queries.count, queries.sum) == (3, 6)
    (db_time,) = rig.metric_points("trainerhub.request.db.duration")
    assert db_time.sum == pytest.approx(0.06)


def test_ten_thousand_children_keep_per_root_state_bounded() -> None:
    provider = TracerProvider()
    processor = AttributionProcessor(MeterProvider())
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")

    def ten_thousand_children(root):
        ctx = trace.set_span_in_context(root)
        for i in range(10_000):
            child = tracer.start_span("q", context=ctx, kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": f"SELECT * FROM t{i} WHERE x = 1"})
            child.end()
        return child

    # The statement fingerprint cache is process-wide and bounded (lru, 4096 entries);
    # cleared around the measurement, what remains is what one open root holds.
    ten_thousand_children(tracer.start_span("warm-up", kind=SpanKind.SERVER)).end()
    root = tracer.start_span("root", kind=SpanKind.SERVER)
    state = weakref.ref(getattr(root, "_trainerhub_root"))
    fingerprint.cache_clear()
    _n_plus_one_key.cache_clear()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    child = ten_thousand_children(root)
    fingerprint.cache_clear()
    _n_plus_one_key.cache_clear()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert state().db_count == 10_000
    assert len(state().fingerprints) == 256  # capped
    assert grown < 100_000, grown
    root.end()
    assert state().fingerprints == {}  # freed at the root's end
    # A root that never ends: its state goes when the spans that refer to it go.
    stuck = tracer.start_span("stuck", kind=SpanKind.SERVER)
    stuck_state = weakref.ref(getattr(stuck, "_trainerhub_root"))
    tracer.start_span("q", context=trace.set_span_in_context(stuck)).end()
    del stuck, root, child
    gc.collect()
    assert stuck_state() is None and state() is None


def test_exporters_added_after_the_pipeline_see_spans_redacted_and_attributed() -> None:
    rig = make_rig()
    root = rig.tracer.start_span(
        "GET api/x/", kind=SpanKind.SERVER, attributes={"http.route": "api/x/", "url.full": "http://h/api/x/?token=s3cr3t-value&page=2"}
    )
    with trace.use_span(root, end_on_exit=True):
        db(rig.tracer, "SELECT 1")
    (exported_root,) = [s for s in rig.exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert "s3cr3t-value" not in exported_root.attributes["url.full"] and "page=2" in exported_root.attributes["url.full"]
    assert exported_root.attributes["trainerhub.db.query_count"] == 1


def _parent_contexts():
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    yield "no parent", None
    for remote in (True, False):
        for sampled in (True, False):
            ctx = SpanContext(0x1234, 0x5678, is_remote=remote, trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0))
            yield f"{'remote' if remote else 'local'} parent, {'sampled' if sampled else 'not sampled'}", trace.set_span_in_context(NonRecordingSpan(ctx))


@pytest.mark.parametrize("name", ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"])
def test_record_every_drops_nothing_and_otherwise_decides_as_the_sampler_it_replaces(name: str) -> None:
    from opentelemetry.sdk.trace.sampling import Decision

    from otel_trainerhub.processors.sampling import build_sampler
    from otel_trainerhub.settings import load_settings

    inner = build_sampler(load_settings({"OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": "0.5"}))
    ours = record_every(inner)
    for label, parent in _parent_contexts():
        for trace_id in (1, 2**127, 2**128 - 1):  # below, at and above the ratio's bound
            expected = inner.should_sample(parent, trace_id, "span").decision
            got = ours.should_sample(parent, trace_id, "span")
            assert got.decision == (Decision.RECORD_ONLY if expected == Decision.DROP else expected), (label, trace_id)
            if got.decision == Decision.RECORD_ONLY:
                assert not got.decision.is_sampled()


def test_record_every_adds_no_layer_where_nothing_is_dropped() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    assert record_every(ALWAYS_ON) is ALWAYS_ON
    assert record_every(ALWAYS_OFF) is RECORD_ONLY
    parent_based = record_every(ParentBased(ALWAYS_ON))
    assert type(parent_based) is ParentBased and parent_based._root is ALWAYS_ON
    assert parent_based._remote_parent_not_sampled is RECORD_ONLY and parent_based._local_parent_not_sampled is RECORD_ONLY
    assert "RecordOnlySampler" in parent_based.get_description()


def _load_name(tracer: trace.Tracer, user_id: int) -> None:
    statement = f'SELECT "u"."name" FROM "users" "u" WHERE "u"."id" = {user_id} LIMIT 21'
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": statement}):  # innermost
        pass


def test_n_plus_one_source_is_the_loop_and_the_innermost_frame_is_kept_too(rig: Rig) -> None:
    with rig.tracer.start_as_current_span("GET api/trainers/", kind=SpanKind.SERVER, attributes={"http.route": "api/trainers/"}):
        for user_id in range(6):
            _load_name(rig.tracer, user_id)  # repeats
    attrs = rig.roots()["GET api/trainers/"]
    assert attrs["trainerhub.n_plus_one.source"].endswith("test_attribution.py:" + str(_line_of("# repeats")))
    assert attrs["trainerhub.n_plus_one.innermost_source"].endswith("test_attribution.py:" + str(_line_of("# innermost")))


def test_own_attributes_keep_the_sdks_limits_without_its_validation() -> None:
    """The root's attributes are set past the SDK's per-value validation, but with its limits:
    strings cut at the length limit, the oldest key dropped (and counted) at the count limit,
    and anything but str, bool, int and float still cleaned the SDK's way."""
    from opentelemetry.attributes import BoundedAttributes

    from otel_trainerhub._sdk import set_own_attributes

    attributes = BoundedAttributes(maxlen=4, attributes={"a": 1, "b": 2}, immutable=True, max_value_len=8)
    set_own_attributes(attributes, {"s": "x" * 20, "flag": True, "n": 2.5, "seq": ["p", "q"]})
    assert dict(attributes) == {"s": "x" * 8, "flag": True, "n": 2.5, "seq": ("p", "q")}  # a list made a tuple, as the SDK does
    assert attributes.dropped == 2
    with pytest.raises(TypeError):  # still frozen for everyone else
        attributes["late"] = 1
    plain: dict = {"event": 1}  # an event's plain dict
    set_own_attributes(plain, {"k": "v"})
    assert plain == {"event": 1, "k": "v"}


def test_a_root_carries_a_long_n_plus_one_statement_cut_at_the_length_limit() -> None:
    from opentelemetry.sdk.trace import SpanLimits

    metrics = InMemoryMetricReader()
    pipeline = EnrichingSpanProcessor(RedactionProcessor(), AttributionProcessor(MeterProvider(metric_readers=[metrics]), n_plus_one_threshold=3))
    provider = TracerProvider(active_span_processor=pipeline, span_limits=SpanLimits(max_span_attribute_length=40))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    statement = "SELECT " + ", ".join(f'"t"."column_{i}"' for i in range(10)) + ' FROM "t" WHERE "t"."id" = %s'
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER):
        for _ in range(3):
            db(tracer, statement)
    root = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    found = root.attributes["trainerhub.n_plus_one.statement"]
    assert len(found) == 40 and statement.startswith(found[:30])
