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
