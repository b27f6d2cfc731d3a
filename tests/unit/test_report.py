"""``otel-trainerhub report`` on spans the SDK wrote: findings grouped with counts and the worst
trace, whole statements and their source, exceptions, commands apart, waterfalls with their root."""

from __future__ import annotations

import io
import re
import time
from html.parser import HTMLParser

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_trainerhub.attributes import COMMAND_NAME, N_PLUS_ONE_COUNT, N_PLUS_ONE_INNERMOST, N_PLUS_ONE_SOURCE, N_PLUS_ONE_STATEMENT, SLOW
from otel_trainerhub.report.findings import findings
from otel_trainerhub.report.html import render_html
from otel_trainerhub.report.spans import load_spans, local_roots
from otel_trainerhub.report.text import render

STATEMENT = 'SELECT "users_user"."id", ' + ", ".join(f'"users_user"."column_{i}"' for i in range(20)) + ' FROM "users_user" WHERE "users_user"."id" = ? LIMIT ?'


def _spans_file() -> list[str]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for count in (8, 12, 8):  # the second is the slowest request: 12 ms, fixed below
        started = time.time_ns()
        root = tracer.start_span("GET api/trainers/", kind=SpanKind.SERVER, start_time=started)
        with trace.use_span(root, end_on_exit=False):
            for _ in range(count):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql", "db.statement": STATEMENT}):
                    pass
        root.set_attributes({N_PLUS_ONE_COUNT: count, N_PLUS_ONE_STATEMENT: STATEMENT,
                             N_PLUS_ONE_SOURCE: "apps/trainers/views.py:24", N_PLUS_ONE_INNERMOST: "apps/users/models.py:40"})
        root.end(end_time=started + count * 1_000_000)
    for _ in range(2):
        with tracer.start_as_current_span("GET api/bookings/<int:booking_id>/invoice/", kind=SpanKind.SERVER) as root:
            root.record_exception(LookupError("Booking matching query does not exist."))
            root.set_status(Status(StatusCode.ERROR))
            root.set_attribute("http.status_code", 500)
    with tracer.start_as_current_span("GET api/reports/revenue/", kind=SpanKind.SERVER, attributes={SLOW: True}):
        pass
    with tracer.start_as_current_span("manage.py migrate", attributes={COMMAND_NAME: "migrate", N_PLUS_ONE_COUNT: 25,
                                                                     N_PLUS_ONE_STATEMENT: 'INSERT INTO "django_migrations" VALUES (?)'}):
        pass
    return [s.to_json(indent=None) for s in exporter.get_finished_spans()]


def _text(lines: list[str], width: int = 80, **options: object) -> str:
    out = io.StringIO()
    render(load_spans(lines), out=out, width=width, **options)  # type: ignore[arg-type]
    return out.getvalue()


def test_findings_are_grouped_by_kind_and_route_with_counts_and_the_worst_trace() -> None:
    roots = local_roots(load_spans(_spans_file()))
    found = findings(roots)
    assert [(f.kind, f.where, f.count) for f in found] == [
        ("error", "GET api/bookings/<int:booking_id>/invoice/", 2),
        ("N+1", "GET api/trainers/", 3),
        ("slow", "GET api/reports/revenue/", 1),
    ]
    n_plus_one = found[1]
    assert n_plus_one.what == f"12x {STATEMENT}" and n_plus_one.worst.attributes[N_PLUS_ONE_COUNT] == 12
    assert (n_plus_one.source, n_plus_one.innermost) == ("apps/trainers/views.py:24", "apps/users/models.py:40")
    assert found[0].what == "LookupError: Booking matching query does not exist."
    # A management command's repeated inserts are the application's findings only when asked.
    assert [f.where for f in findings(roots, include_commands=True) if f.kind == "N+1"] == ["GET api/trainers/", "manage.py migrate"]


def test_the_text_report_fits_the_width_and_keeps_whole_statements() -> None:
    text = _text(_spans_file(), width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    flat = "".join(text.split())
    assert "".join(STATEMENT.split()) in flat  # whole, wrapped, never cut
    assert "atapps/trainers/views.py:24" in flat and "innermostframeapps/users/models.py:40" in flat
    assert "LookupError: Booking matching query does not exist." in text
    assert "N+1 · GET api/trainers/ · 3 requests" in text
    findings_part = text[text.index("findings:"):text.index("slowest request")]
    assert "manage.py" not in findings_part and "management commands" in text
    # The waterfall starts with the root's own row; SQL rows show their statement, not "SELECT SELECT".
    waterfall = text[text.index("slowest request"):].splitlines()
    assert re.search(r"\+\s+0\.0 ms .* SERVER\s+GET api/trainers/$", waterfall[1]), waterfall  # the slowest: 12 statements
    assert len(waterfall) == 2 + 12 and all("CLIENT   SELECT \"users_user\"" in row for row in waterfall[2:]), waterfall
    assert "SELECT SELECT" not in text
    wide = _text(_spans_file(), width=200)
    assert max(len(line) for line in wide.splitlines()) > 80  # the width follows the terminal's


def test_a_file_with_only_commands_or_no_roots_still_reports() -> None:
    commands_only = [line for line in _spans_file() if "manage.py" in line]
    assert "manage.py migrate" in _text(commands_only)
    assert "no request, task or command spans found" in _text([])


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_page_draws_each_findings_worst_trace_and_escapes_what_it_shows() -> None:
    lines = _spans_file()
    hostile = [line.replace("GET api/trainers/", "GET <script>alert(1)</script>/") for line in lines]
    page = render_html(load_spans(hostile), trace_view_url="http://jaeger.local/trace/{trace_id}")
    assert "<script>" not in page and "&lt;script&gt;" in page
    parsed = _Collect()
    parsed.feed(page)
    sections = [a["id"] for tag, a in parsed.tags if tag == "h3"]
    assert sections == ["worst-0", "worst-1", "worst-2"]
    assert sum(1 for tag, a in parsed.tags if tag == "tr" and a.get("class") == "finding") == 3
    assert any(tag == "a" and (a.get("href") or "").startswith("http://jaeger.local/trace/") for tag, a in parsed.tags)
    # N+1's worst trace: the root's bar and one per statement.
    assert page.count('class="bar CLIENT"') == 12
