"""otel-trainerhub in a Django project nobody here wrote (tests/hostproject: a forum with a DRF
router, a ``path("")`` home page, ADMINS and its own LOGGING), on its own pins.

Three environments, built by ``.ci/hostproject.sh``: ``django42`` (a full Django 4.2.8 /
DRF 3.14 / Celery 5.3 / psycopg 3.1 freeze on Python 3.11), ``django60`` (Django 6.0 on
Python 3.12) and ``latest`` (the newest Django, DRF, Celery and psycopg on Python 3.13). In each the project runs on real gunicorn
and PostgreSQL twice: uninstrumented, in the environment of its requirements alone, and with
``import otel_trainerhub.auto``, in the same requirements with otel-trainerhub installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver, Span
from tests.support.stack import DATABASE_URL, ROOT, Proc, free_port, http

pytestmark = pytest.mark.integration

PROJECT = ROOT / "tests" / "hostproject"
PLANTED = "hunter2-planted-secret"

# (method, path, JSON body): every kind of response the project gives.
REQUESTS: list[tuple[str, str, object]] = [
    ("GET", "/", None),
    ("GET", "/api/", None),
    ("GET", "/api/threads/", None),
    ("GET", "/api/threads/2/", None),
    ("GET", "/api/threads/2/posts/", None),
    ("POST", "/api/threads/", {"title": "Pins and upgrades"}),
    ("POST", "/api/threads/1/posts/", {"author": "member9", "body": "a new post"}),
    ("GET", "/api/threads/999/", None),
    ("GET", f"/nowhere/?password={PLANTED}&phone=%2B14155552671", None),
    ("GET", "/api/threads/3/nowhere/", None),
    ("GET", "/boom/", None),
    ("GET", f"/api/threads/?password={PLANTED}&pw2={PLANTED}&page=1", None),
]

# The route each server span gets (None: matched no URL pattern).
ROUTES = {
    "/": "/",
    "/api/": "api/",
    "/api/threads/": "api/threads/",
    "/api/threads/2/": "api/threads/{pk}/",
    "/api/threads/2/posts/": "api/threads/{thread_pk}/posts/",
    "/api/threads/1/posts/": "api/threads/{thread_pk}/posts/",
    "/api/threads/999/": "api/threads/{pk}/",
    "/nowhere/": None,
    "/api/threads/3/nowhere/": None,
    "/boom/": "boom/",
}


@dataclass
class HostEnv:
    name: str
    pins: Path  # the project's requirements only
    app: Path  # the same with otel-trainerhub installed


@dataclass
class Run:
    responses: list[tuple[int, bytes]]
    outbox: Path
    log_file: Path
    output: str


def _build(name: str) -> HostEnv:
    result = subprocess.run(["bash", str(ROOT / ".ci" / "hostproject.sh"), name], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f".ci/hostproject.sh {name} failed:\n{result.stderr[-4000:]}", pytrace=False)
    paths = dict(line.split("=", 1) for line in result.stdout.split())
    key = name.upper()
    return HostEnv(name, Path(paths[f"HOST_{key}_PINS"]), Path(paths[f"HOST_{key}_APP"]))


@pytest.fixture(scope="module", params=["django42", "django60", "latest"])
def host_env(request: pytest.FixtureRequest, services: None) -> HostEnv:
    return _build(request.param)


def _database(name: str) -> str:
    import psycopg

    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + name


def _serve(venv: Path, module: str, tmp: Path, name: str, extra_env: dict[str, str]) -> Run:
    outbox, log_file = tmp / f"{name}-outbox", tmp / f"{name}-forum.log"
    outbox.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_", "LOG_", "DJANGO_", "PYTHON"))}
    env.update(
        FORUM_DATABASE_URL=_database(f"forum_{name}"),
        FORUM_OUTBOX=str(outbox),
        FORUM_LOG_FILE=str(log_file),
        DJANGO_SETTINGS_MODULE="forum.settings",
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    for command in (["migrate", "--noinput"], ["seed_forum"]):
        done = subprocess.run([str(venv / "bin" / "python"), "manage.py", *command], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"manage.py {command[0]} in {venv.name}:\n{done.stderr[-3000:]}"
    port = free_port()
    argv = [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1", module]
    proc = Proc(name, argv, env, tmp, cwd=PROJECT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2):
                break
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{name}: / answered {exc.code}:\n{exc.read()[:2000]!r}") from None
        except OSError:
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: gunicorn did not start:\n{proc.output()[-4000:]}") from None
            time.sleep(0.2)
    try:
        responses = []
        for method, path, body in REQUESTS:
            status, content, _ = http(method, url + path, body=body, headers={"Accept": "application/json", "Host": "localhost"})
            responses.append((status, content))
        # The 500's e-mail is written by the worker once the response is out: wait for it.
        deadline = time.monotonic() + 20
        while not list(outbox.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.stop()
    return Run(responses, outbox, log_file, proc.output())


@pytest.fixture(scope="module")
def runs(host_env: HostEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Run, list[Span]]]:
    tmp = tmp_path_factory.mktemp(f"host-{host_env.name}")
    plain = _serve(host_env.pins, "forum.wsgi:application", tmp, f"{host_env.name}_plain", {})
    receiver = OtlpReceiver()
    endpoint = receiver.start_http()
    try:
        traced = _serve(
            host_env.app,
            "forum.wsgi_traced:application",
            tmp,
            f"{host_env.name}_traced",
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "OTEL_SERVICE_NAME": "forum",
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "OTEL_TRAINERHUB_INTERNAL_ERRORS": "raise",
            },
        )
        spans = receiver.wait_for(lambda s: sum(x.kind == "SERVER" for x in s) >= len(REQUESTS), timeout=30)
    finally:
        receiver.stop()
    yield plain, traced, spans


def _freeze(path: Path) -> dict[str, str]:
    pairs = (line.split("==", 1) for line in path.read_text().splitlines() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs}


def test_installing_otel_trainerhub_moves_none_of_the_projects_pins(host_env: HostEnv) -> None:
    before, after = _freeze(host_env.app / "freeze-before.txt"), _freeze(host_env.app / "freeze-after.txt")
    moved = {name: (version, after.get(name)) for name, version in before.items() if after.get(name) != version}
    assert moved == {}
    assert "opentelemetry-sdk" in after and "grpcio" not in after and "django-health-check" not in after
    if host_env.name == "django42":
        assert before["django"] == "4.2.8" and before["celery"] == "5.3.6" and before["psycopg"].startswith("3.1.")


def test_responses_are_byte_identical_with_and_without_the_package(runs: tuple[Run, Run, list[Span]]) -> None:
    plain, traced, _ = runs
    assert [status for status, _ in plain.responses] == [200, 200, 200, 200, 200, 201, 201, 404, 404, 404, 500, 200]
    for (method, path, _), left, right in zip(REQUESTS, plain.responses, traced.responses):
        assert left == right, f"{method} {path}"


def test_every_server_span_has_a_readable_route(runs: tuple[Run, Run, list[Span]]) -> None:
    _, _, spans = runs
    servers = [s for s in spans if s.kind == "SERVER"]
    by_path = {(s.attributes.get("http.method") or s.attributes.get("http.request.method"), s.attributes.get("http.target", s.attributes.get("url.path", "")).split("?")[0]): s for s in servers}
    for method, path, _ in REQUESTS:
        span = by_path[(method, path.split("?")[0])]
        route = ROUTES[path.split("?")[0]]
        if route is None:
            assert "http.route" not in span.attributes and span.name == f"{method} unmatched", span
        else:
            assert span.attributes["http.route"] == route and span.name == f"{method} {route}", span
    # the project's ORM work is traced under its requests, DRF's N+1 included
    assert any(s.kind == "CLIENT" and s.attributes.get("db.system") == "postgresql" for s in spans)


def test_the_hosts_admin_email_and_own_log_file_keep_working(runs: tuple[Run, Run, list[Span]]) -> None:
    plain, traced, _ = runs
    for run in (plain, traced):
        mails = [p.read_text() for p in run.outbox.iterdir()]
        assert len(mails) == 1 and "Internal Server Error: /boom/" in mails[0] and "ops@forum.example" in mails[0]
        lines = run.log_file.read_text().splitlines()
        assert "INFO forum.views thread created: 4" in lines and "WARNING django.request Not Found: /nowhere/" in lines
    # The project's handlers get the project's and Django's records exactly as without us
    # (its root handler also sees ours now: they are records on its root logger).
    # Compared line by line without the tracebacks (their paths name each run's venv).
    own = lambda run: [line for line in run.log_file.read_text().splitlines() if line.split(" ", 1)[0] in ("INFO", "WARNING", "ERROR") and " otel_trainerhub." not in line]  # noqa: E731
    assert own(traced) == own(plain)


def test_planted_query_string_secrets_reach_no_span_or_line(runs: tuple[Run, Run, list[Span]]) -> None:
    _, traced, spans = runs
    # Django's "Not Found" line carries the request: its repr is redacted like text
    not_found = [json.loads(line) for line in traced.output.splitlines() if line.startswith("{") and "Not Found: /nowhere/" in line]
    assert not_found and "password=[REDACTED]" in not_found[0]["request"] and "phone=[REDACTED]" in not_found[0]["request"]
    assert PLANTED not in json.dumps([s.attributes for s in spans], default=str)
    assert PLANTED not in traced.output
    assert PLANTED not in traced.log_file.read_text()
