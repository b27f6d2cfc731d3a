"""Secrets planted wherever a client or the application can put them (headers, cookies, query
strings, JSON bodies, a URL path, exception messages, log messages, task arguments, a task's
print output and return value), then looked for in every sink: the exported spans, the OTLP
log records and metrics (what the collector turns into Prometheus series), gunicorn's and the
Celery worker's stdout and stderr, both ``LOG_FILE``s and the Sentry events. 0 hits.

Each planted request is checked to have arrived (its span, its Sentry event, its task's lines),
so an absence means masked, not lost. The Jaeger and Prometheus ends of the same path are in
``tests/e2e/test_stack.py``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.reliability import record
from tests.support.otlp import OtlpReceiver
from tests.support.sentry_sink import SentrySink
from tests.support.stack import REDIS_URL, base_env, http, start_celery, start_gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

EMAIL = "planted.mail@example.com"
PHONE = "+44 7700 900123"
SECRETS = {
    "bearer token (unknown)": "sk_live_PLANTEDauth01",
    "bearer token (a user's)": "client-3",
    "session cookie": "PLANTEDcookie02",
    "csrf cookie": "PLANTEDcsrf03",
    "X-Api-Key header": "PLANTEDapikey04",
    "password in the query": "PLANTEDqpw05",
    "token in the query": "PLANTEDqtok06",
    "access_token in the query": "PLANTEDqat07",
    "api_key in the query": "PLANTEDqak08",
    "pw2 in the query": "PLANTEDqpw2x09",
    "e-mail": EMAIL,
    "e-mail, URL-encoded": quote(EMAIL),
    "phone": PHONE,
    "phone, URL-encoded": quote(PHONE),
    "phone, digits only": PHONE.replace(" ", ""),
    "password in a JSON body": "PLANTEDbodypw10",
    "declined card": "4000 0000 0000 0002",
    "declined card, digits only": "4000000000000002",
    "malformed card in an exception": "4111 1111 1111 111",
    "password in a task argument": "PLANTEDtaskpw11",
    "card in a task argument": "4242 4242 4242 4242",
    "card in a task argument, digits only": "4242424242424242",
    "token in a failing task argument": "PLANTEDtasktok12",
}


def _exception_types(sentry: SentrySink) -> set[str]:
    return {v["type"] for e in sentry.events() for v in e.get("exception", {}).get("values", [])}


def _sinks(receiver: OtlpReceiver, sentry: SentrySink, outputs: dict[str, str]) -> dict[str, str]:
    spans = receiver.spans()
    return {
        "spans": json.dumps([[s.name, s.attributes, s.events, s.status_message] for s in spans], default=str),
        "OTLP logs": "\n".join(str(r) for r in receiver.log_requests),
        "OTLP metrics": "\n".join(str(r) for r in receiver.metric_requests),
        "Sentry": sentry.raw(),
        **outputs,
    }


def test_planted_secrets_reach_no_sink(seeded_database, clean_redis, receiver: OtlpReceiver, sandbox, log_dir: Path) -> None:
    from celery import Celery

    sentry = SentrySink()
    common = dict(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.start_http(), SENTRY_DSN=sentry.start(), PROVIDERS_BASE_URL=sandbox,
                  OTEL_TRAINERHUB_OTLP_LOG_LEVEL="INFO", OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST="X-Api-Key,Cookie,Authorization,User-Agent")
    web_log, task_log = log_dir / "web.jsonl", log_dir / "worker.jsonl"
    gunicorn, url = start_gunicorn(base_env(**common, LOG_FILE=str(web_log)), log_dir, workers=2)
    worker = start_celery(base_env(**common, LOG_FILE=str(task_log)), log_dir, concurrency=1)
    query = f"password={SECRETS['password in the query']}&token={SECRETS['token in the query']}&access_token={SECRETS['access_token in the query']}" \
            f"&api_key={SECRETS['api_key in the query']}&pw2={SECRETS['pw2 in the query']}&email={quote(EMAIL)}&phone={quote(PHONE)}"
    headers = {"Cookie": f"sessionid={SECRETS['session cookie']}; csrftoken={SECRETS['csrf cookie']}", "X-Api-Key": SECRETS["X-Api-Key header"]}
    try:
        planted = [
            ("GET", f"/api/trainers/?{query}", None, None, 200),
            ("GET", f"/api/bookings/?{query}", SECRETS["bearer token (unknown)"], None, 401),
            ("GET", f"/api/bookings/?{query}", "client-3", None, 200),
            ("GET", f"/api/nowhere/{quote(EMAIL)}/", None, None, 404),
            ("POST", f"/api/users/register/?{query}", None,
             {"username": "planted", "password": SECRETS["password in a JSON body"], "email": EMAIL, "phone": PHONE}, 201),
            # Declined: the view logs the whole payload ("subscription charge failed for {...}").
            ("POST", "/api/subscriptions/", "client-3", {"plan": "pro", "card_number": SECRETS["declined card"], "email": EMAIL}, 402),
            # Malformed: a ValueError whose message carries the number, a 500 and a Sentry event.
            ("POST", f"/api/subscriptions/?{query}", "client-3", {"plan": "pro", "card_number": "4111 1111 1111 111x", "email": EMAIL}, 500),
        ]
        for method, path, token, body, expected in planted:
            status, answer, _ = http(method, url + path, token=token, body=body, headers=headers)
            assert status == expected, (method, path, status, answer[:300])
        client = Celery(broker=f"{REDIS_URL}/0")
        # say() prints its argument (Celery's stdout redirect logs it) and returns it ("succeeded in ...: '...'").
        client.send_task("apps.core.tasks.say", args=[
            f"password={SECRETS['password in a task argument']} card {SECRETS['card in a task argument']} mail {EMAIL} phone {PHONE}"])
        # An unexpected keyword fails the call: the failure line and the Sentry event carry the task's arguments.
        client.send_task("apps.core.tasks.say", args=[f"token={SECRETS['token in a failing task argument']} {SECRETS['card in a task argument, digits only']}"],
                         kwargs={"unexpected": EMAIL})

        def arrived(spans: list) -> bool:
            servers = [s for s in spans if s.kind == "SERVER"]
            runs = [s for s in spans if s.name == "run/apps.core.tasks.say"]
            return len(servers) >= len(planted) and len(runs) >= 2 and bool(receiver.log_requests) and bool(receiver.metric_requests)

        receiver.wait_for(arrived, timeout=120)
        deadline = time.monotonic() + 120  # the 500's event and the failed task's
        while not _exception_types(sentry) >= {"ValueError", "TypeError"} and time.monotonic() < deadline:
            time.sleep(0.2)
        worker.wait_for_output("raised unexpected", 60)
    finally:
        worker.stop()
        gunicorn.stop()
        sentry.stop()
    outputs = {
        "gunicorn stdout and stderr": gunicorn.output(),
        "Celery stdout and stderr": worker.output(),
        "web LOG_FILE": web_log.read_text(errors="replace"),
        "worker LOG_FILE": task_log.read_text(errors="replace"),
    }
    # The lines that carried the secrets were written (masked), not lost.
    assert "subscription charge failed" in outputs["web LOG_FILE"] and "registration received" in outputs["web LOG_FILE"]
    assert "Not Found: /api/nowhere/" in outputs["gunicorn stdout and stderr"]
    assert "apps.core.tasks.say" in outputs["worker LOG_FILE"] and "card [CARD]" in outputs["worker LOG_FILE"]
    assert _exception_types(sentry) >= {"ValueError", "TypeError"}, [e.get("message") or e.get("logentry") for e in sentry.events()]
    sinks = _sinks(receiver, sentry, outputs)
    hits = {f"{what} in {where}": text[max(0, text.find(value) - 80): text.find(value) + 80]
            for what, value in SECRETS.items() for where, text in sinks.items() if value in text}
    record(
        "Planted secrets",
        f"{len(SECRETS)} secrets planted by {len(planted)} requests (headers, cookies, query strings, JSON bodies, a URL path, "
        "an exception message, the view's own log lines) and 2 Celery tasks (argument, print output, return value, failure), "
        "looked for in every sink.",
        [f"- {where}: {len(text):,} characters searched, {sum(v in text for v in SECRETS.values())} hits" for where, text in sinks.items()],
    )
    assert not hits, json.dumps(hits, indent=1)
