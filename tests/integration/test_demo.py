"""bin/demo, the README's first command: its report (grouped findings, whole statements, the
exception, commands apart, a waterfall with its root, the terminal's width) and its HTML page,
opened in a real Chromium; and a step that fails stops everything the demo started, names the
step and exits non-zero (it used to hang with gunicorn left running)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.browser import chromium
from tests.support.stack import ROOT

pytestmark = pytest.mark.integration


def _demo_env() -> dict[str, str]:
    # No services: SQLite and in-process Celery, as on a machine where nothing is set up.
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DATABASE_URL", "REDIS_URL", "SENTRY_", "TRACE_VIEW_URL"))}


def test_the_demo_report_groups_its_findings_and_its_html_page_draws_their_traces(tmp_path) -> None:
    env = {**_demo_env(), "COLUMNS": "100", "DEMO_ROUNDS": "2"}
    result = subprocess.run(["bash", str(ROOT / "bin" / "demo")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    report = out[out.index("requests and tasks in"):]
    assert max(len(line) for line in report.splitlines()) <= 100  # the width the terminal says
    assert "traffic: " in out and not any(line.startswith("{") for line in out.splitlines())  # no raw JSON line
    findings = report[report.index("findings:"):report.index("slowest request")]
    # One group per route and kind, with its count: the fixture's N+1 endpoint, its failing invoice, its slow report.
    assert "N+1 · GET api/trainers/ · 2 requests" in findings, findings
    assert "error · GET api/bookings/<int:booking_id>/invoice/" in findings and "DoesNotExist: Booking matching query does not exist." in findings
    assert "slow · GET api/reports/revenue/ · 2 requests" in findings
    assert '"users_user"."api_token_hash" FROM "users_user"' in findings  # the statement's end: whole, not cut at 60
    assert "at apps/trainers/views.py:" in findings
    assert "manage.py" not in findings and "manage.py migrate" in report[: report.index("findings:")]
    waterfall = report[report.index("slowest request"):].splitlines()
    assert " SERVER " in waterfall[1] and "+    0.0 ms" in waterfall[1], waterfall[:3]
    assert "SELECT SELECT" not in report and "INSERT INSERT" not in report

    page = ROOT / "var" / "demo" / "report.html"
    assert f"HTML report: {page}" in out
    with chromium(tmp_path / "chromium") as browser:
        browser.get(page.as_uri())
        rows = browser.find_elements("css selector", "tr.finding")
        assert len(rows) == findings.count(" · ") // 2, [r.text for r in rows]
        sections = browser.find_elements("css selector", "h3")
        assert len(sections) == len(rows)
        # Each finding's worst trace is drawn: a root bar as wide as the axis, a bar per span under it.
        for section in sections:
            bars = browser.execute_script(
                "const w = arguments[0].nextElementSibling; return [...w.querySelectorAll('.bar')].map(b => b.getBoundingClientRect().width);",
                section,
            )
            assert bars and bars[0] == max(bars) and bars[0] > 300, (section.text, bars)
        n_plus_one = next(s for s in sections if s.text.startswith("N+1"))
        browser.execute_script("arguments[0].scrollIntoView()", n_plus_one)
        assert "SELECT" in n_plus_one.find_element("xpath", "following-sibling::div[1]").text
        browser.save_screenshot(str(tmp_path / "report-html.png"))
        print(f"screenshot (test artifact): {tmp_path / 'report-html.png'}")


def test_a_failing_demo_step_is_named_and_leaves_nothing_running(tmp_path) -> None:
    env = _demo_env()
    env["DEMO_ROUNDS"] = "not-a-number"  # traffic.py refuses it, after gunicorn has started
    result = subprocess.run(["bash", str(ROOT / "bin" / "demo")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert "demo: failed at: " in result.stderr and "traffic.py" in result.stderr, result.stderr[-2000:]
    # gunicorn (master and workers) of this demo run is gone.
    running = subprocess.run(["pgrep", "-f", f"{ROOT}/.venv/bin/gunicorn .*config.wsgi"], capture_output=True, text=True)
    assert running.stdout.strip() == "", running.stdout
