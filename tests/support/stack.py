"""Start the fixture for real: gunicorn, Celery prefork workers, the provider sandbox.

Everything runs in its own process with the environment a deployment would give it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "app_fixture"
BIN = Path(sys.executable).parent

DATABASE_URL = os.environ.get("TRAINERHUB_TEST_DATABASE_URL", "postgres://trainerhub:trainerhub@127.0.0.1:5432/trainerhub_it")
REDIS_URL = os.environ.get("TRAINERHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, probe: Callable[[], Any], timeout: float = 90.0, every: float = 1.0) -> Any:
    """``probe()``'s first truthy answer, polled every ``every`` seconds for up to ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last answer: {last!r}")


def built(script: str, env_var: str) -> str:
    """A cached build's binary: ``$env_var``, or what ``script`` (collector/build*.sh) prints
    last (a warm build is a hash and a stat)."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    result = subprocess.run(["bash", str(ROOT / script)], capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_", "LOG_"))}
    env.update(
        PYTHONPATH=str(FIXTURE),
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
        OTEL_BSP_SCHEDULE_DELAY="200",
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        # A swallowed internal error of ours fails the test instead of hiding (contain.py).
        OTEL_TRAINERHUB_INTERNAL_ERRORS="raise",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", *args], cwd=FIXTURE, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def lines_of(text: str) -> list[str]:
    """``text``'s lines, split where a log shipper splits: at "\n" only (``str.splitlines``
    also splits at U+0085 and U+2028, which a JSON line carries raw inside its strings)."""
    return text.removesuffix("\n").split("\n") if text else []


def json_records(lines: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines parsed as JSON, and the lines that are not JSON."""
    import json

    records, not_json = [], []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    return records, not_json


class Proc:
    """A child process whose output goes to a log file the test can read."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, cwd: Path = FIXTURE) -> None:
        self.name = name
        self.out_path = log_dir / f"{name}.out"
        self.err_path = log_dir / f"{name}.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._out, stderr=self._err, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        """Standard error then standard output."""
        return self.err_path.read_text(errors="replace") + self.out_path.read_text(errors="replace")

    def stdout_lines(self) -> list[str]:
        return lines_of(self.out_path.read_text(errors="replace"))

    def output_lines(self) -> list[str]:
        return lines_of(self.output())

    def wait_for_output(self, text: str, timeout: float = 30.0, *, count: int = 1) -> None:
        """Until ``text`` has appeared ``count`` times in the process's output."""
        deadline = time.monotonic() + timeout
        while self.output().count(text) < count:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: {text!r} not {count} times after {timeout}s:\n{self.output()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._out.close()
        self._err.close()
        return self.popen.returncode


def start_gunicorn(
    env: dict[str, str],
    log_dir: Path,
    *,
    workers: int = 3,
    max_requests: int = 0,
    name: str = "gunicorn",
    ready_path: str = "/liveness/",
    asgi: bool = False,
) -> tuple[Proc, str]:
    """The fixture under gunicorn (--preload): sync workers on config.wsgi, or with
    ``asgi`` uvicorn's worker class on config.asgi (the same process tree, served async)."""
    port = free_port()
    argv = [
        str(BIN / "gunicorn"),
        "-c", "config/gunicorn.conf.py",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--max-requests", str(max_requests),
        "--preload",
        *(["--worker-class", "uvicorn.workers.UvicornWorker", "config.asgi:application"] if asgi else ["config.wsgi"]),
    ]
    proc = Proc(name, argv, env, log_dir)
    url = _serving(proc, port, ready_path)
    # Ready once one worker answers; every worker booted (each logs this after its fork), so
    # that a test reading the master's children finds them all.
    proc.wait_for_output("Booting worker", 10, count=workers)
    return proc, url


def start_asgi(env: dict[str, str], log_dir: Path, *, server: str = "uvicorn", ready_path: str = "/liveness/") -> tuple[Proc, str]:
    """The fixture's config.asgi under an ASGI server itself (one process, one event loop):
    ``uvicorn`` or ``daphne``."""
    port = free_port()
    argv = {
        "uvicorn": [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "config.asgi:application"],
        "daphne": [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
    }[server]
    proc = Proc(server, argv, env, log_dir)
    return proc, _serving(proc, port, ready_path)


def _serving(proc: Proc, port: int, ready_path: str) -> str:
    """The server's URL once ``ready_path`` answers 200 (30 s at most)."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + ready_path, timeout=2) as r:
                if r.status == 200:
                    return url
        except OSError:
            pass
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name} did not start:\n{proc.output()[-4000:]}")
        time.sleep(0.2)


def start_celery(
    env: dict[str, str], log_dir: Path, *, concurrency: int = 2, max_tasks_per_child: int = 0, name: str = "celery", quiet: bool = True
) -> Proc:
    argv = [
        str(BIN / "celery"), *(["--quiet"] if quiet else []), "-A", "config", "worker",
        "--pool", "prefork", "--concurrency", str(concurrency),
        "--loglevel", "INFO", "--without-gossip", "--without-mingle",
        "--hostname", f"{name}-{os.getpid()}@%h",
    ]
    if max_tasks_per_child:
        argv += ["--max-tasks-per-child", str(max_tasks_per_child)]
    proc = Proc(name, argv, env, log_dir)
    proc.wait_for_output("ready.", 60)
    return proc


def http(method: str, url: str, *, token: str | None = None, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    import json as _json

    data = None if body is None else _json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)
