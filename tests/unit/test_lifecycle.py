"""configure() / shutdown(): idempotent, reversible, flushing. Each case runs in a fresh process,
as the global tracer provider can be set once per process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.fresh import run_python


def run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, tmp_path, {"OTEL_TRAINERHUB_SPAN_FILE": str(tmp_path / "spans.jsonl"), **env})


def spans(tmp_path: Path) -> list[dict]:
    path = tmp_path / "spans.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_configure_twice_is_a_no_op_and_instruments_once(tmp_path: Path) -> None:
    result = run(
        """
        import redis, django
        execute = lambda: redis.Redis.__dict__["execute_command"]
        original_execute, original_setup = execute(), django.setup
        import otel_trainerhub
        first = otel_trainerhub.configure(service_name="a")
        wrapped = execute()
        second = otel_trainerhub.configure(service_name="b")
        import otel_trainerhub.auto
        assert first is second and second.service_name == "a"
        assert execute() is wrapped, "instrumented twice"
        assert wrapped is not original_execute
        assert wrapped.__wrapped__ is original_execute  # one wrapper: ours (the lean command path), in contrib's place
        otel_trainerhub.shutdown()
        assert execute() is original_execute, "shutdown must restore redis"
        assert django.setup is original_setup, "shutdown must restore django.setup"
        otel_trainerhub.shutdown()  # twice is fine
        print("ok")
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "ok"
    assert "already instrumented" not in result.stderr
    assert "Overriding of current" not in result.stderr


def test_shutdown_flushes_what_is_queued(tmp_path: Path) -> None:
    run(
        """
        import otel_trainerhub
        otel_trainerhub.configure()
        from opentelemetry import trace
        tracer = trace.get_tracer("case")
        for i in range(25):
            with tracer.start_as_current_span(f"span-{i}"):
                pass
        otel_trainerhub.shutdown()
        stats = otel_trainerhub.telemetry_stats()
        assert stats["spans_exported"] == 25 and stats["spans_dropped"] == {}, stats
        """,
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing is exported before shutdown
    )
    assert sorted(s["name"] for s in spans(tmp_path)) == sorted(f"span-{i}" for i in range(25))


def test_force_flush_exports_every_signal_now_and_keeps_running(tmp_path: Path) -> None:
    result = run(
        """
        import logging, otel_trainerhub
        assert otel_trainerhub.force_flush() is True  # before configure: nothing to do
        otel_trainerhub.configure()
        from opentelemetry import trace
        tracer = trace.get_tracer("case")
        for i in range(5):
            with tracer.start_as_current_span(f"span-{i}"):
                pass
        assert otel_trainerhub.telemetry_stats()["spans_exported"] == 0
        assert otel_trainerhub.force_flush(5) is True
        assert otel_trainerhub.telemetry_stats()["spans_exported"] == 5
        with tracer.start_as_current_span("after"):  # still exporting after a flush
            pass
        assert otel_trainerhub.force_flush(5) is True
        print(otel_trainerhub.telemetry_stats()["spans_exported"])
        """,
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",  # nothing is exported unless flushed
    )
    assert result.stdout.strip() == "6", result.stderr[-2000:]
    assert sorted(s["name"] for s in spans(tmp_path)) == sorted([*(f"span-{i}" for i in range(5)), "after"])


def test_process_exit_flushes_without_an_explicit_shutdown(tmp_path: Path) -> None:
    run(
        """
        import otel_trainerhub.auto
        from opentelemetry import trace
        with trace.get_tracer("case").start_as_current_span("last words"):
            pass
        """,
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    assert [s["name"] for s in spans(tmp_path)] == ["last words"]


def test_exit_flushes_where_no_thread_can_start_at_shutdown(tmp_path: Path) -> None:
    # Python 3.12+ refuses new threads once the interpreter shuts down, which is when atexit
    # runs: the bounded flush then runs on the exiting thread (spans were lost on 3.12).
    run(
        """
        import atexit, threading
        import otel_trainerhub.auto
        from opentelemetry import trace

        def refuse(self):
            raise RuntimeError("can't create new thread at interpreter shutdown")

        # atexit runs its handlers last in, first out: this one before our shutdown.
        atexit.register(lambda: setattr(threading.Thread, "start", refuse))
        with trace.get_tracer("case").start_as_current_span("last words"):
            pass
        """,
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    assert [s["name"] for s in spans(tmp_path)] == ["last words"]


def test_sdk_disabled_instruments_nothing(tmp_path: Path) -> None:
    run(
        """
        import redis
        original = redis.Redis.__dict__["execute_command"]
        import otel_trainerhub.auto, otel_trainerhub
        assert otel_trainerhub.is_configured()
        assert redis.Redis.__dict__["execute_command"] is original
        """,
        tmp_path,
        OTEL_SDK_DISABLED="true",
    )
    assert spans(tmp_path) == []


def test_disabled_instrumentations_are_left_alone(tmp_path: Path) -> None:
    run(
        """
        import redis
        original = redis.Redis.__dict__["execute_command"]
        import otel_trainerhub.auto
        assert redis.Redis.__dict__["execute_command"] is original
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
        assert RequestsInstrumentor().is_instrumented_by_opentelemetry
        """,
        tmp_path,
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="redis",
    )


def test_management_command_is_one_trace(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root / "app_fixture",
        env={"PATH": "/usr/bin:/bin", "OTEL_TRAINERHUB_SPAN_FILE": str(tmp_path / "spans.jsonl"), "TRAINERHUB_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    names = [s["name"] for s in spans(tmp_path) if s["parent_id"] is None]
    assert names == ["manage.py check"]


REVERSIBLE_CASE = """
import json, logging, os, sqlite3, sys
sys.path.insert(0, FIXTURE)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import celery.apps.worker, redis, requests, urllib3
import asgiref.sync, daphne.access, uvicorn.server
from celery import signals as cs
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.management.base import BaseCommand
from django.core.signals import request_finished
from django.db.models.signals import post_save
from opentelemetry.instrumentation.dbapi import CursorTracer
from opentelemetry.instrumentation import psycopg as psycopg_instrumentation

SIGNALS = {"request_finished": request_finished, "user_login_failed": user_login_failed, "post_save": post_save,
           **{n: getattr(cs, n) for n in ("setup_logging", "before_task_publish", "task_prerun", "task_postrun", "worker_process_shutdown")}}

import weakref

def ours(reference):
    receiver = reference() if isinstance(reference, weakref.ReferenceType) else reference
    # Django's own receivers, connected when a module of it is first imported, are not ours to undo.
    return (getattr(receiver, "__module__", "") or "").startswith(("otel_trainerhub", "opentelemetry"))

def snapshot():
    return {
        "django.setup": id(django.setup),
        "BaseCommand.execute": id(BaseCommand.__dict__["execute"]),
        "CursorTracer.get_statement": id(CursorTracer.__dict__["get_statement"]),
        "CursorTracer.traced_execution": id(CursorTracer.__dict__["traced_execution"]),
        "psycopg CursorTracer.get_statement": id(psycopg_instrumentation.CursorTracer.__dict__["get_statement"]),
        "celery safe_say": id(celery.apps.worker.safe_say),
        "celery emit_banner": id(celery.apps.worker.Worker.__dict__["emit_banner"]),
        "Redis.execute_command": id(redis.Redis.__dict__["execute_command"]),
        "Session.send": id(requests.Session.__dict__["send"]),
        "urlopen": id(urllib3.connectionpool.HTTPConnectionPool.__dict__["urlopen"]),
        "sqlite3.connect": id(sqlite3.connect),
        "SyncToAsync.__call__": id(asgiref.sync.SyncToAsync.__dict__["__call__"]),
        "uvicorn Server.shutdown": id(uvicorn.server.Server.__dict__["shutdown"]),
        "daphne write_entry": id(daphne.access.AccessLogGenerator.__dict__["write_entry"]),
        "MIDDLEWARE": list(settings.MIDDLEWARE),
        "root handlers": [id(h) for h in logging.getLogger().handlers],
        **{f"signal {n}": sorted(str(r[0]) for r in s.receivers if ours(r[1])) for n, s in SIGNALS.items()},
    }

import otel_trainerhub
from otel_trainerhub import patches
before = snapshot()
for round in (1,):
    otel_trainerhub.configure()
    during = snapshot()
    changed = sorted(k for k in before if during[k] != before[k] and k != "root handlers")
    from opentelemetry import trace
    with trace.get_tracer("case").start_as_current_span(f"round {round}"):
        pass
    otel_trainerhub.shutdown()
    after = snapshot()
    after.pop("root handlers"); expected = dict(before); expected.pop("root handlers")  # logging: see the OTLP handler test
    print(json.dumps({"case": round, "changed": changed, "left": sorted(k for k in expected if after[k] != expected[k]), "patches": patches.active()}))
try:
    otel_trainerhub.configure()
except RuntimeError as exc:
    print("again:", exc)
"""


def test_shutdown_undoes_every_patch_and_a_second_configure_is_refused(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    result = run(
        REVERSIBLE_CASE.replace("FIXTURE", repr(str(root / "app_fixture"))),
        tmp_path,
        TRAINERHUB_VAR_DIR=str(tmp_path),
        TRAINERHUB_OTEL="off",  # the fixture's own import of otel_trainerhub.auto: this test configures by hand
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    rounds = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"case"')]
    assert len(rounds) == 1, result.stdout[-3000:]
    for seen in rounds:
        # What configure() patches: every one of these, and all of it undone by shutdown().
        assert set(seen["changed"]) >= {
            "BaseCommand.execute", "CursorTracer.get_statement", "CursorTracer.traced_execution", "psycopg CursorTracer.get_statement", "celery safe_say", "celery emit_banner", "Redis.execute_command", "Session.send",
            "urlopen", "sqlite3.connect", "SyncToAsync.__call__", "uvicorn Server.shutdown", "daphne write_entry", "MIDDLEWARE", "signal request_finished", "signal user_login_failed",
            "signal task_prerun", "signal worker_process_shutdown",
        }, seen
        assert seen["left"] == [] and seen["patches"] == [], seen
    assert [s["name"] for s in spans(tmp_path)] == ["round 1"]
    # The global providers are set once per process: a second set-up would lose telemetry
    # silently, so it is refused with a reason.
    assert "again: otel_trainerhub.configure() after shutdown() in the same process is not supported" in result.stdout


def test_shutdown_removes_the_otlp_log_handler_with_its_provider(tmp_path: Path) -> None:
    result = run(
        """
        import logging
        import otel_trainerhub
        from otel_trainerhub.logs.otlp import OtlpLogHandler
        def otlp_handlers():
            return [h for h in logging.getLogger().handlers if isinstance(h, OtlpLogHandler)]
        otel_trainerhub.configure(exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2)
        first = otlp_handlers()
        assert len(first) == 1 and first[0]._provider is otel_trainerhub._state.pipelines.logger_provider
        otel_trainerhub.shutdown()
        assert otlp_handlers() == [], "shutdown leaves no handler bound to the dead provider"
        logging.getLogger("apps.case").warning("after shutdown")  # goes to stdout, nowhere dead
        print("ok")
        """,
        tmp_path,
    )
    assert result.stdout.strip().splitlines()[-1] == "ok"


def test_configure_takes_test_processors_readers_ids_and_a_clock(tmp_path: Path) -> None:
    # A test sees exactly what configure() builds, deterministically: fixed ids, a clock that
    # moves only when told, an in-memory span exporter and metric reader beside ours.
    result = run(
        """
        import json
        import otel_trainerhub
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        class Counting(IdGenerator):
            def __init__(self): self.n = 0
            def generate_span_id(self): self.n += 1; return self.n
            def generate_trace_id(self): return 0xABC

        now = [1_700_000_000_000_000_000]
        exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
        otel_trainerhub.configure(
            span_processors=[SimpleSpanProcessor(exporter)], metric_readers=[reader], id_generator=Counting(),
            clock=lambda: now[0], slow_request_threshold=5.0, metric_export_interval_ms=3_600_000,
        )
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind
        tracer = trace.get_tracer("case")
        with tracer.start_as_current_span("GET /bookings/", kind=SpanKind.SERVER, attributes={"http.route": "bookings/"}):
            now[0] += 2_000_000_000
            with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": "SELECT 1"}):
                now[0] += 3_000_000_000
            now[0] += 1_000_000_000
        import time as real_time
        finished = {s.name: s for s in exporter.get_finished_spans()}
        root, child = finished["GET /bookings/"], finished["SELECT"]
        slow = [p for m in reader.get_metrics_data().resource_metrics[0].scope_metrics for x in m.metrics if x.name == "trainerhub.slow" for p in x.data.data_points]
        otel_trainerhub.shutdown()
        import opentelemetry.sdk.trace as sdk_trace
        print(json.dumps({
            "ids": [root.context.trace_id, root.context.span_id, child.context.span_id, child.parent.span_id],
            "root_ns": root.end_time - root.start_time, "child_ns": child.end_time - child.start_time,
            "ratio": root.attributes["trainerhub.db.duration_ratio"], "db_ms": root.attributes["trainerhub.db.duration_ms"],
            "slow": root.attributes.get("trainerhub.slow"), "slow_points": [(dict(p.attributes), p.value) for p in slow],
            "clock_restored": sdk_trace.time_ns is real_time.time_ns,
        }))
        """,
        tmp_path,
    )
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ids"] == [0xABC, 1, 2, 1]
    assert (seen["root_ns"], seen["child_ns"]) == (6_000_000_000, 3_000_000_000)
    assert (seen["ratio"], seen["db_ms"]) == (0.5, 3000.0)
    assert seen["slow"] is True  # 6 s against the 5 s threshold, without sleeping
    assert seen["slow_points"] == [[{"trainerhub.root.kind": "request", "trainerhub.route": "bookings/"}, 1]]
    assert seen["clock_restored"] is True


def test_a_module_imported_after_shutdown_is_left_unpatched(tmp_path: Path) -> None:
    # Import-time patches (uvicorn's shutdown, daphne's access log) wait for their module;
    # shutdown() disarms them, so a later import finds the module as it ships.
    result = run(
        """
        import sys
        import otel_trainerhub
        otel_trainerhub.configure()
        assert "daphne.access" not in sys.modules and "uvicorn.server" not in sys.modules
        otel_trainerhub.shutdown()
        import daphne.access, uvicorn.server
        from otel_trainerhub import patches
        print(type(daphne.access.AccessLogGenerator.__dict__["write_entry"]).__name__,
              type(uvicorn.server.Server.__dict__["shutdown"]).__name__, patches.active())
        """,
        tmp_path,
    )
    assert result.stdout.split()[-3:] == ["function", "function", "[]"], result.stdout


def test_exemplars_are_off_unless_asked_for(tmp_path: Path) -> None:
    code = """
        import otel_trainerhub
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        reader = InMemoryMetricReader()
        otel_trainerhub.configure(metric_readers=[reader])
        histogram = metrics.get_meter("case").create_histogram("case.duration")
        with trace.get_tracer("case").start_as_current_span("sampled"):
            histogram.record(1.0, {"route": "r"})
        points = [p for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                  for m in sm.metrics if m.name == "case.duration" for p in m.data.data_points]
        print(sum(len(p.exemplars) for p in points), sum(p.count for p in points))
        """
    assert run(code, tmp_path).stdout.split() == ["0", "1"]
    assert run(code, tmp_path, OTEL_METRICS_EXEMPLAR_FILTER="trace_based").stdout.split() == ["1", "1"]


def test_configure_leaves_the_garbage_collector_as_the_host_had_it(tmp_path: Path) -> None:
    """Set-up pauses the cyclic collector (start-up cost) and gives it back in the state it found it."""
    result = run(
        """
        import gc
        gc.disable()
        import otel_trainerhub
        otel_trainerhub.configure()
        assert not gc.isenabled(), "a host that turned collection off keeps it off"
        otel_trainerhub.shutdown()
        print("ok")
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "ok", result.stderr
    result = run(
        """
        import gc
        import otel_trainerhub
        try:
            otel_trainerhub.configure(sampler="sometimes")  # a bad option raises inside the pause
            raise AssertionError("no ConfigError")
        except otel_trainerhub.ConfigError:
            pass
        assert gc.isenabled(), "collection back on after a failed set-up"
        otel_trainerhub.configure()
        assert gc.isenabled(), "collection back on after set-up"
        print("ok")
        """,
        tmp_path,
    )
    assert result.stdout.strip() == "ok", result.stderr
