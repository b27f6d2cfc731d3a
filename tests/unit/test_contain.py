"""Internal errors are contained: never raised into the app, logged once, counted; re-raised in tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from otel_trainerhub import contain
from tests.support.fresh import run_python


def test_the_test_suite_re_raises_swallowed_errors() -> None:
    assert contain.mode == "raise"
    with pytest.raises(ZeroDivisionError):
        with contain.contained("a test"):
            1 / 0


def test_in_production_an_error_is_swallowed_logged_once_and_counted(tmp_path: Path) -> None:
    result = run_python(
        """
        import json
        import otel_trainerhub
        from otel_trainerhub import contain
        otel_trainerhub.configure()
        for _ in range(3):
            with contain.contained("the test's place"):
                raise RuntimeError("a bug of ours")
        print(json.dumps(otel_trainerhub.telemetry_stats()["internal_errors"]))
        """,
        tmp_path,
        {"OTEL_TRAINERHUB_INTERNAL_ERRORS": "log"},
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"the test's place": 3}
    logged = [json.loads(line) for line in result.stdout.splitlines() if "internal error" in line]
    assert len(logged) == 1 and logged[0]["name"] == "otel_trainerhub.internal"
    assert "RuntimeError: a bug of ours" in logged[0]["exception"]


def test_a_redaction_bug_ships_no_unredacted_text(tmp_path: Path) -> None:
    # Fail closed: what redaction could not clean does not leave the process.
    result = run_python(
        """
        import json
        import otel_trainerhub
        from otel_trainerhub import redaction
        from otel_trainerhub.processors import redaction as span_redaction
        def broken(*args, **kwargs):
            raise RuntimeError("redaction bug")
        span_redaction.redact_text = broken
        otel_trainerhub.configure()
        from opentelemetry import trace
        with trace.get_tracer("case").start_as_current_span("GET /pay", attributes={"url.full": "https://x/pay?card=4111111111111111"}) as span:
            span.set_status(trace.Status(trace.StatusCode.ERROR, "card 4111111111111111 refused"))
        otel_trainerhub.shutdown()
        print(json.dumps(otel_trainerhub.telemetry_stats()["internal_errors"]))
        """,
        tmp_path,
        {"OTEL_TRAINERHUB_INTERNAL_ERRORS": "log", "OTEL_TRAINERHUB_SPAN_FILE": str(tmp_path / "spans.jsonl")},
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"span redaction": 1}
    exported = (tmp_path / "spans.jsonl").read_text()
    assert "4111111111111111" not in exported
    assert json.loads(exported)["attributes"]["url.full"] == "[REDACTED]"
