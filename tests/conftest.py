"""Shared fixtures: the real PostgreSQL and Redis, a migrated and seeded database, an OTLP receiver."""

from __future__ import annotations

import functools
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.otlp import OtlpReceiver
from tests.support.stack import DATABASE_URL, REDIS_URL, ROOT, Proc, base_env, manage, start_gunicorn


def _require_services() -> None:
    """PostgreSQL and Redis must answer; in CI .ci/run starts them, so absence is a failure."""
    import psycopg
    import redis

    problems = []
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    try:
        psycopg.connect(admin_url, connect_timeout=3).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {admin_url}: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except Exception as exc:
        problems.append(f"Redis at {REDIS_URL}: {exc}")
    if problems:
        pytest.fail("integration services are not running (start them with `bash .ci/services.sh`):\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def internal_errors_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    """In process too, a swallowed internal error of otel_trainerhub fails the test (contain.py)."""
    from otel_trainerhub import contain

    monkeypatch.setattr(contain, "mode", "raise")


@pytest.fixture()
def blackhole() -> Iterator[str]:
    """A collector address whose listen backlog accepts TCP connections that nobody ever reads
    or answers: a collector that hangs."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture(scope="session")
def services() -> None:
    _require_services()


@pytest.fixture(scope="session")
def seeded_database(services: None) -> str:
    """A fresh database for this test session, migrated and seeded through manage.py."""
    import psycopg

    name = DATABASE_URL.rsplit("/", 1)[1]
    admin_url = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = base_env(OTEL_SDK_DISABLED="true")
    manage("migrate", "--noinput", env=env)
    manage("seed_demo", env=env)
    return DATABASE_URL


@pytest.fixture()
def clean_redis(services: None) -> None:
    import redis

    for db in (0, 1, 2):
        redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()


@pytest.fixture()
def receiver() -> Iterator[OtlpReceiver]:
    r = OtlpReceiver()
    yield r
    r.stop()


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "logs"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def sandbox() -> Iterator[str]:
    """The provider sandbox standing in for the email, SMS and payment APIs."""
    import sys

    sys.path.insert(0, str(ROOT / "app_fixture"))
    from apps.core.provider_sandbox import serve

    server = serve(0, latency=0.005)
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(params=["wsgi", "asgi"])
def serve(request: pytest.FixtureRequest) -> Callable[..., tuple[Proc, str]]:
    """``start_gunicorn`` serving the fixture over WSGI (sync workers) and over ASGI (uvicorn's
    worker class): a test that takes it makes each of its assertions on both."""
    return functools.partial(start_gunicorn, asgi=request.param == "asgi")
