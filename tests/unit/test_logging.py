"""The logging setup, in fresh processes: one JSON format for every logger, rotation, the guide's commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.fresh import run_python

GUIDE_KEYS = {"timestamp", "levelname", "name", "message"}


def run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(code, tmp_path, {"OTEL_TRACES_EXPORTER": "none", **env})


def lines(text: str) -> list[dict]:
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def test_every_logger_comes_out_in_one_json_format(tmp_path: Path) -> None:
    result = run(
        """
        import logging, structlog
        import otel_trainerhub.auto
        from opentelemetry import trace
        logging.getLogger("django.request").warning("Not Found: %s", "/api/nope/")
        logging.getLogger("celery.worker").info("ready.")
        logging.getLogger("apps.bookings").info("booking created", extra={"booking_id": 7})
        with trace.get_tracer("t").start_as_current_span("work") as span:
            structlog.get_logger("apps.payments").info("captured", amount=55)
            ids = span.get_span_context()
            print("IDS", format(ids.trace_id, "032x"), format(ids.span_id, "016x"), file=__import__("sys").stderr)
        logging.getLogger("apps.analytics").debug("hidden at INFO")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("apps").exception("rollup failed")
        """,
        tmp_path,
        OTEL_TRAINERHUB_SPAN_FILE=str(tmp_path / "spans.jsonl"),
    )
    records = lines(result.stdout)
    assert [r["name"] for r in records] == ["django.request", "celery.worker", "apps.bookings", "apps.payments", "apps"]
    for r in records:
        assert GUIDE_KEYS <= set(r), r
        assert r["timestamp"].endswith("Z") and "T" in r["timestamp"]
    assert records[0] == {**records[0], "levelname": "WARNING", "message": "Not Found: /api/nope/"}
    assert records[2]["booking_id"] == 7 and records[2]["levelname"] == "INFO"
    trace_id, span_id = result.stderr.split("IDS ")[1].split()
    assert (records[3]["trace_id"], records[3]["span_id"], records[3]["amount"]) == (trace_id, span_id, 55)
    assert "trace_id" not in records[2]
    assert records[4]["levelname"] == "ERROR" and "RuntimeError: boom" in records[4]["exception"]


def test_debug_logging_and_log_level(tmp_path: Path) -> None:
    result = run(
        """
        import logging
        import otel_trainerhub.auto
        logging.getLogger("apps.notifications").debug("apps debug shown")
        logging.getLogger("django").info("django info hidden")
        logging.getLogger("django").warning("django warning shown")
        logging.getLogger("django.db.backends").debug("(0.001) SELECT secret FROM t; args=('x',)")
        """,
        tmp_path,
        DEBUG_LOGGING="true",
        LOG_LEVEL="WARNING",
    )
    assert [r["message"] for r in lines(result.stdout)] == ["apps debug shown", "django warning shown"]


def test_the_hosts_logger_class_is_left_as_it_was(tmp_path: Path) -> None:
    # structlog's LoggerFactory sets its own for the process; every later getLogger() of the
    # host's would get it (and its dearer caller lookup).
    result = run(
        """
        import logging

        class HostLogger(logging.Logger):
            pass

        logging.setLoggerClass(HostLogger)
        import otel_trainerhub.auto, structlog
        structlog.get_logger("apps.payments").info("charged")
        logging.getLogger("apps.later").info("later")
        print(logging.getLoggerClass().__name__, type(logging.getLogger("apps.later")).__name__)
        """,
        tmp_path,
    )
    assert result.stdout.splitlines()[-1] == "HostLogger HostLogger"
    assert [r["message"] for r in lines("\n".join(result.stdout.splitlines()[:-1]))] == ["charged", "later"]


def test_console_format_for_a_terminal(tmp_path: Path) -> None:
    result = run(
        """
        import logging
        import otel_trainerhub.auto
        logging.getLogger("apps").info("hello", extra={"k": 1})
        """,
        tmp_path,
        LOG_FORMAT="console",
    )
    (line,) = result.stdout.splitlines()
    assert "hello" in line and "k=1" in line and not line.startswith("{")


def test_secrets_never_reach_a_line(tmp_path: Path) -> None:
    result = run(
        """
        import logging, structlog
        import otel_trainerhub.auto
        log = logging.getLogger("apps.users")
        log.info("registration received", extra={"payload": {"username": "ana", "password": "hunter2", "email": "ana@example.com"}})
        log.info("callback %s", "/cb?token=tok_live_123&x=1")
        log.warning("auth header was %s", "Bearer sk_live_abcdef")
        structlog.get_logger("apps.payments").error("charge failed", card="4111 1111 1111 1111", api_key="k_live")
        try:
            raise ValueError("malformed card number '4111111111111111' for ana@example.com")
        except ValueError:
            log.exception("subscribe failed")
        log.info("username %s", 'ana\\n{"levelname": "CRITICAL", "message": "forged"}')
        """,
        tmp_path,
    )
    out = result.stdout
    # Timestamps carry microseconds, which can spell "4111" by chance (".411158Z" did in CI).
    untimed = re.sub(r'"timestamp":"[^"]*"', '"timestamp":""', out)
    for secret in ("hunter2", "ana@example.com", "tok_live_123", "sk_live_abcdef", "4111", "k_live"):
        assert secret not in untimed, secret
    records = lines(out)
    assert len(records) == 6  # the newline did not forge a seventh line
    assert records[0]["payload"]["password"] == "[REDACTED]" and records[0]["payload"]["username"] == "ana"


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is installed by .ci/services.sh; run it first")
def test_rotation_and_the_guides_log_analysis_commands(tmp_path: Path) -> None:
    log_file = tmp_path / "trainerhub" / "django.log"
    run(
        """
        import logging
        import otel_trainerhub.auto
        req = logging.getLogger("otel_trainerhub.request")
        for i in range(400):
            status = (200, 201, 404, 500)[i % 4]
            level = logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
            req.log(level, "request", extra={"method": "GET", "path": f"/api/bookings/{i}/", "status_code": status, "duration_ms": 3.2})
        logging.getLogger("otel_trainerhub.performance").warning("Slow request", extra={"path": "/api/reports/revenue/", "method": "GET", "duration_ms": 8500.23, "db_queries": 45, "db_time": 3.45})
        """,
        tmp_path,
        LOG_FILE=str(log_file),
        LOG_FILE_MAX_BYTES="8192",
        LOG_FILE_BACKUP_COUNT="2",
    )
    files = sorted(p.name for p in log_file.parent.iterdir() if not p.name.startswith("."))
    assert files[:3] == ["django.log", "django.log.1", "django.log.2"] and len([f for f in files if f.startswith("django.log")]) == 3, files
    assert all(p.stat().st_size <= 8192 + 1024 for p in log_file.parent.glob("django.log*"))

    def sh(command: str) -> str:
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout

    path = str(log_file)
    errors = sh(f'grep "ERROR" {path}').splitlines()
    assert errors and all(json.loads(l)["levelname"] == "ERROR" for l in errors)
    (slow,) = sh(f'grep "Slow request" {path}').splitlines()
    assert {k: json.loads(slow)[k] for k in ("message", "path", "method", "duration_ms", "db_queries", "db_time")} == {
        "message": "Slow request", "path": "/api/reports/revenue/", "method": "GET", "duration_ms": 8500.23, "db_queries": 45, "db_time": 3.45
    }
    counts = sh(f'grep "status_code" {path} | jq -r .status_code | sort | uniq -c')
    table = {int(code): int(n) for n, code in (line.split() for line in counts.splitlines())}
    assert set(table) == {200, 201, 404, 500}
    assert max(table.values()) - min(table.values()) <= 1  # the last file holds an even mix


def test_an_otlp_log_record_carries_the_trace_its_json_line_names(tmp_path: Path) -> None:
    # Lines logged after their span stopped being current ("N+1 query detected" at the root's
    # end, Django's "Not Found") carry the request's bound ids: the OTLP record must too.
    from tests.support.otlp import OtlpReceiver

    receiver = OtlpReceiver()
    endpoint = receiver.start_http()
    try:
        result = run_python(
            """
            import json, logging, structlog
            import otel_trainerhub
            otel_trainerhub.configure(exporter_endpoint=ENDPOINT)
            from opentelemetry import trace
            with trace.get_tracer("case").start_as_current_span("request") as span:
                ids = {"trace_id": format(span.get_span_context().trace_id, "032x"), "span_id": format(span.get_span_context().span_id, "016x")}
                logging.getLogger("apps.case").warning("inside the span")
            structlog.contextvars.bind_contextvars(**ids)  # as the request middleware binds them
            logging.getLogger("apps.case").warning("after the span ended")
            structlog.contextvars.clear_contextvars()
            logging.getLogger("apps.case").warning("outside any request")
            otel_trainerhub.shutdown()
            print(json.dumps(ids))
            """.replace("ENDPOINT", repr(endpoint)),
            tmp_path,
            {},
        )
        ids = json.loads(result.stdout.strip().splitlines()[-1])
        records = {
            record.body.string_value: (record.trace_id.hex(), record.span_id.hex())
            for request in receiver.log_requests
            for resource_logs in request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        }
    finally:
        receiver.stop()
    assert records["inside the span"] == (ids["trace_id"], ids["span_id"])
    assert records["after the span ended"] == (ids["trace_id"], ids["span_id"])
    assert records["outside any request"] == ("", "")


def test_the_hosts_own_django_handlers_stay(tmp_path: Path) -> None:
    # Django's AdminEmailHandler mails 500s to ADMINS: taking over the console must not stop that.
    result = run_python(
        """
        import logging
        import otel_trainerhub
        otel_trainerhub.configure()
        from django.conf import settings
        settings.configure(
            DEBUG=False, SECRET_KEY="test", ADMINS=[("Ops", "ops@example.com")], SERVER_EMAIL="app@example.com",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", INSTALLED_APPS=[], DATABASES={},
            LOGGING={"version": 1, "disable_existing_loggers": False, "handlers": {"file": {"class": "logging.FileHandler", "filename": LOGPATH}},
                     "loggers": {"django.request": {"handlers": ["file"], "level": "ERROR"}}},
        )
        import django
        django.setup()
        from django.core import mail
        from django.utils.log import AdminEmailHandler
        kinds = [type(h).__name__ for h in logging.getLogger("django").handlers]
        assert "AdminEmailHandler" in kinds and "StreamHandler" not in kinds, kinds
        logging.getLogger("django.request").error("Internal Server Error: /boom/")
        assert len(mail.outbox) == 1 and "Internal Server Error" in mail.outbox[0].subject, mail.outbox
        print("ok")
        """.replace("LOGPATH", repr(str(tmp_path / "project.log"))),
        tmp_path,
        {},
    )
    assert result.stdout.strip().splitlines()[-1] == "ok"
    assert "Internal Server Error: /boom/" in (tmp_path / "project.log").read_text()  # the project's own file handler too
    assert any('"message":"Internal Server Error: /boom/"' in line for line in result.stdout.splitlines())  # and our JSON line


def test_library_warning_lines_are_rate_limited_and_say_how_many_were_held_back() -> None:
    import logging as _logging

    from otel_trainerhub.logs.limits import RateLimit

    now = [0.0]
    limit = RateLimit(per_minute=3, clock=lambda: now[0])
    record = lambda: _logging.LogRecord("opentelemetry.baggage.propagation", _logging.WARNING, __file__, 1, "bad baggage", None, None)  # noqa: E731
    passed = [limit.filter(record()) for _ in range(10)]
    assert passed == [True, True, True] + [False] * 7 and limit.suppressed_total == 7
    now[0] = 61.0
    first = record()
    assert limit.filter(first) and first.suppressed == 7 and limit.suppressed == 0


def test_daphnes_console_access_log_becomes_json_and_a_file_of_the_projects_stays(tmp_path: Path) -> None:
    access_file = tmp_path / "access.log"
    result = run(
        f"""
        import datetime, sys
        import otel_trainerhub.auto
        from daphne.access import AccessLogGenerator
        when = datetime.datetime(2026, 12, 3, 10, 0, 0)
        AccessLogGenerator(sys.stdout)(
            "http", "complete", {{"client": "127.0.0.1:5000", "method": "GET", "path": "/api/x/?token=s3cr3t", "status": 200, "size": 12}}
        )
        with open({str(access_file)!r}, "a") as stream:
            AccessLogGenerator(stream).write_entry(host="127.0.0.1:5001", date=when, request="GET /api/y/", status=404, length=3)
        """,
        tmp_path,
    )
    (entry,) = [r for r in lines(result.stdout) if r["name"] == "daphne.access"]
    assert entry["message"] == '127.0.0.1:5000 "GET /api/x/?token=[REDACTED]" 200 12'
    assert (entry["remote_addr"], entry["status_code"], entry["size"], entry["levelname"]) == ("127.0.0.1:5000", 200, 12, "INFO")
    assert access_file.read_text() == '127.0.0.1:5001 - - [03/Dec/2026:10:00:00] "GET /api/y/" 404 3\n'


def test_console_format_prints_a_traceback_on_its_own_indented_lines(tmp_path: Path) -> None:
    result = run(
        """
        import logging
        import otel_trainerhub.auto
        try:
            raise ValueError("bad card password=hunter2\\n2026-01-01T00:00:00Z forged line\\x1b[31m")
        except ValueError:
            logging.getLogger("apps.case").exception("charge failed")
        """,
        tmp_path,
        LOG_FORMAT="console",
    )
    out = result.stdout.splitlines()
    start = next(i for i, line in enumerate(out) if "charge failed" in line)
    traceback = out[start + 1 :]
    assert traceback[0] == "  Traceback (most recent call last):", out
    assert any(line.startswith("    File ") for line in traceback)
    # Every line of it indented: the message's own newline cannot start a line of its own.
    assert "  2026-01-01T00:00:00Z forged line\\x1b[31m" in traceback, traceback
    assert all(line.startswith("  ") for line in traceback) and "\\x0a" not in result.stdout
    assert "hunter2" not in result.stdout


def test_an_eager_task_keeps_the_requests_context_and_gives_it_back(tmp_path: Path) -> None:
    # CELERY_TASK_ALWAYS_EAGER runs the task inside the request: its lines are the request's
    # (request_id too), and the request's lines after it keep their request_id.
    result = run(
        """
        import logging, structlog
        import otel_trainerhub.auto
        from celery import Celery
        app = Celery("case", broker="memory://")
        app.conf.task_always_eager = True

        @app.task(name="bookings.confirm")
        def confirm():
            logging.getLogger("apps.bookings").info("confirming")

        structlog.contextvars.bind_contextvars(request_id="req-7")
        confirm.delay()
        logging.getLogger("otel_trainerhub.request").info("request")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    by_message = {line["message"]: line for line in lines(result.stdout)}
    assert by_message["confirming"]["request_id"] == "req-7" and by_message["confirming"]["task_name"] == "bookings.confirm"
    assert by_message["request"]["request_id"] == "req-7" and "task_name" not in by_message["request"]
