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
        assert wrapped.__wrapped__.__wrapped__ is original_execute  # ours outside contrib's, once each
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


def test_fork_waits_for_an_in_progress_metric_collection(tmp_path: Path) -> None:
    # A fork in the middle of a collection would leave SDK locks held in the child.
    result = run(
        """
        import os, threading, time
        import otel_trainerhub
        otel_trainerhub.configure(exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2, metric_export_interval_ms=3_600_000)
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        state = {"in_callback": threading.Event(), "done": False}

        def slow_callback(options):
            state["in_callback"].set()
            time.sleep(0.5)
            state["done"] = True
            return [Observation(1)]

        metrics.get_meter("case").create_observable_gauge("slow", callbacks=[slow_callback])
        reader = otel_trainerhub._state.providers.metric_readers[0]
        threading.Thread(target=lambda: reader.collect(timeout_millis=100), daemon=True).start()
        state["in_callback"].wait(5)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if state["done"] else 3)
        _, status = os.waitpid(pid, 0)
        print("child saw collection finished" if os.waitstatus_to_exitcode(status) == 0 else "forked mid-collection")
        """,
        tmp_path,
    )
    assert "child saw collection finished" in result.stdout.splitlines()


def test_fork_waits_for_an_export_in_flight(tmp_path: Path) -> None:
    # An export imports and locks its way through requests and protobuf on a background
    # thread; a child forked in the middle inherited those locks held (a prefork child that
    # never ran its task, seen in CI). fork() now waits for the export.
    result = run(
        """
        import os, threading, time
        import otel_trainerhub
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
        otel_trainerhub.configure()
        state = {"exporting": threading.Event(), "done": False}

        class Slow(SpanExporter):
            def export(self, spans):
                state["exporting"].set()
                time.sleep(0.5)
                state["done"] = True
                return SpanExportResult.SUCCESS

        processor = otel_trainerhub._state.providers.batch_processors[0]
        processor._batch_processor._exporter._exporter._factory = Slow
        with trace.get_tracer("case").start_as_current_span("s"):
            pass
        threading.Thread(target=processor.force_flush, daemon=True).start()
        state["exporting"].wait(5)
        pid = os.fork()
        if pid == 0:
            os._exit(0 if state["done"] else 3)
        _, status = os.waitpid(pid, 0)
        print("child saw export finished" if os.waitstatus_to_exitcode(status) == 0 else "forked mid-export")
        """,
        tmp_path,
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    assert "child saw export finished" in result.stdout.splitlines()


def test_a_forked_child_is_an_instance_of_its_own(tmp_path: Path) -> None:
    # Two gunicorn workers with the master's service.instance.id would write their
    # cumulative metrics into one Prometheus series (job, instance).
    result = run(
        """
        import json, os
        import otel_trainerhub
        otel_trainerhub.configure(exporter_endpoint="http://127.0.0.1:9", exporter_timeout=0.2, metric_export_interval_ms=3_600_000)
        p = otel_trainerhub._state.providers

        def ids():
            resources = [p.tracer_provider.resource, p.meter_provider._sdk_config.resource, p.log_provider.resource]
            return [(r.attributes["process.pid"], r.attributes["service.instance.id"]) for r in resources]

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.write(w, json.dumps(ids()).encode())
            os._exit(0)
        os.waitpid(pid, 0)
        print(json.dumps({"parent": ids(), "child": json.loads(os.read(r, 10000)), "child_pid": pid}))
        """,
        tmp_path,
    )
    seen = json.loads(next(line for line in result.stdout.splitlines() if line.startswith('{"parent"')))
    parent, child = seen["parent"], seen["child"]
    assert len({tuple(x) for x in parent}) == 1 and len({tuple(x) for x in child}) == 1, "one identity per process, for all three signals"
    assert child[0][0] == seen["child_pid"] != parent[0][0]
    assert child[0][1] != parent[0][1]


def test_an_instance_id_the_user_set_is_kept_in_children(tmp_path: Path) -> None:
    result = run(
        """
        import os
        import otel_trainerhub
        otel_trainerhub.configure()
        r, w = os.pipe()
        if os.fork() == 0:
            os.write(w, otel_trainerhub._state.providers.tracer_provider.resource.attributes["service.instance.id"].encode())
            os._exit(0)
        print(os.read(r, 100).decode())
        """,
        tmp_path,
        OTEL_RESOURCE_ATTRIBUTES="service.instance.id=web-1",
    )
    assert result.stdout.strip().splitlines()[-1] == "web-1"
