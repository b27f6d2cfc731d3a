"""Request and task overhead under load: the fixture instrumented, uninstrumented and as the
alternatives users would pick, on the same PostgreSQL, Redis and gunicorn.

    .venv/bin/python benchmarks/load.py                 # about 15 minutes; benchmarks/results/load.{json,md,png}
    .venv/bin/python benchmarks/load.py --duration 5 --rounds 2 --variants baseline,otel_trainerhub
    .venv/bin/python benchmarks/load.py --server asgi --tasks 0   # served by gunicorn's uvicorn worker: results/load-asgi.*
    .venv/bin/python benchmarks/load.py --collector agent-gateways-down --tasks 0   # see --collector below

``--collector agent`` sends to collector/agent.yaml instead, in front of one gateway that
drops (results/load-agent.*); ``--collector agent-gateways-down`` to the same agent with every
gateway down for the whole run (results/load-gateways-down.*): what the application pays
while the agent queues everything on disk, against what it pays the same agent when all is well.

Variants, each in its own processes (gunicorn, one sync worker, ``--preload``):

* ``baseline``: no instrumentation at all (``TRAINERHUB_OTEL=off``);
* ``otel_trainerhub``: everything on: 100% of traces, metrics and logs over OTLP/HTTP to a
  collector that drops them (``benchmarks/otelcol-drop.yaml``), JSON logs, the processors;
* ``stock``: ``opentelemetry-instrument`` with opentelemetry-distro, the same contrib
  instrumentations and OTLP/HTTP exporter, nothing of ours;
* ``sentry``: sentry-sdk with its Django, Celery and Redis integrations,
  ``traces_sample_rate=1.0``, sending to a local sink (``benchmarks/drop_sink.py``).

wrk (one thread, ``--connections`` connections) drives each endpoint for ``--duration``
seconds per round; the variants run interleaved, in a rotating order, over ``--rounds``
rounds, so machine drift falls on all of them alike; the median round is reported, with
every figure also as a ratio against ``baseline``. Then a Celery worker (prefork, 2
processes) works off ``--tasks`` queued booking confirmations with and without us.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.stack import free_port  # noqa: E402  (the suite's helpers, as benchmarks/collector.py uses them)
from tests.support.tiers import self_metric  # noqa: E402
FIXTURE = ROOT / "app_fixture"
BIN = Path(sys.executable).parent
VAR = ROOT / "var" / "bench"
RESULTS = Path(__file__).parent / "results"

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://trainerhub:trainerhub@127.0.0.1:5432/trainerhub_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")  # the fixture uses databases 0, 1 and 2
APP_PORT, SANDBOX_PORT, SINK_PORT = 28000, 28765, 28999
OTLP_HTTP, COLLECTOR_METRICS_PORT = "http://127.0.0.1:24318", 28888
COLLECTOR_METRICS = f"http://127.0.0.1:{COLLECTOR_METRICS_PORT}/metrics"

ENDPOINTS = {
    "trivial": ("GET", "/api/ping/", None),
    "bookings_list": ("GET", "/api/bookings/", None),
    "booking_create": ("POST", "/api/bookings/", "create_booking.lua"),
    "health": ("GET", "/health/", None),
}
VARIANTS = ("baseline", "otel_trainerhub", "stock", "sentry")


@dataclass
class Run:
    variant: str
    endpoint: str
    round: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    cpu_s: float
    spans: float | None
    dropped: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# --- processes ------------------------------------------------------------------------------


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRY_", "LOG_", "TRAINERHUB_"))}
    env.update(
        PYTHONPATH=f"{FIXTURE}{os.pathsep}{ROOT}",  # this tree's package, whatever the venv's editable install points at
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        PROVIDERS_BASE_URL=f"http://127.0.0.1:{SANDBOX_PORT}",
        TRAINERHUB_VAR_DIR=str(VAR / "app"),
        PYTHONUNBUFFERED="1",
        HEALTH_CHECK_CACHE_SECONDS="0",
    )
    env.update(extra)
    return env


def variant_env(variant: str) -> dict[str, str]:
    if variant == "baseline":
        return base_env(TRAINERHUB_OTEL="off")
    if variant == "otel_trainerhub":
        return base_env(OTEL_EXPORTER_OTLP_ENDPOINT=OTLP_HTTP, OTEL_SERVICE_NAME="trainerhub-bench", OTEL_TRACES_SAMPLER="always_on")
    if variant == "stock":
        return base_env(
            TRAINERHUB_OTEL="off",
            PYTHONPATH=f"{_stock_site()}{os.pathsep}{FIXTURE}",
            OTEL_PYTHON_DISTRO="distro",
            OTEL_PYTHON_CONFIGURATOR="configurator",
            OTEL_SERVICE_NAME="trainerhub-stock",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="none",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=OTLP_HTTP,
            # The instrumentors installed are exactly ours (django, psycopg, psycopg2, sqlite3,
            # redis, celery, requests, urllib3): opentelemetry-instrument loads them all.
        )
    if variant == "sentry":
        return base_env(TRAINERHUB_OTEL="off", SENTRY_DSN=f"http://bench0key@127.0.0.1:{SINK_PORT}/1", SENTRY_TRACES_SAMPLE_RATE="1.0")
    raise ValueError(variant)


def _stock_site() -> Path:
    """opentelemetry-distro, installed beside (not into) the environment: with two distros
    installed, `opentelemetry-instrument` would pick either."""
    site = VAR / "stock-site"
    if not (site / "opentelemetry" / "distro").exists():
        import opentelemetry.instrumentation.version as v

        subprocess.run([str(BIN / "pip"), "install", "-q", "--no-deps", "--target", str(site), f"opentelemetry-distro=={v.__version__}"], check=True)
    return site


class Proc:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = FIXTURE) -> None:
        self.name = name
        self.log = VAR / f"{name}.log"
        self._out = open(self.log, "ab")
        self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, timeout: float = 20) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        self._out.close()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_http(url: str, timeout: float = 60, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited; see {proc.log}:\n{proc.text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def manage(*args: str) -> None:
    subprocess.run([str(BIN / "python"), "manage.py", *args], cwd=FIXTURE, env=base_env(TRAINERHUB_OTEL="off"), check=True, capture_output=True)


def prepare_database() -> None:
    import psycopg

    admin = DATABASE_URL.rsplit("/", 1)[0] + "/trainerhub"
    name = DATABASE_URL.rsplit("/", 1)[1]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v0")
    manage("seed_demo")


def flush_redis() -> None:
    import redis

    for db in (0, 1, 2):
        redis.Redis.from_url(f"{REDIS_URL}/{db}").flushdb()


@contextlib.contextmanager
def services() -> Iterator[None]:
    """A fresh benchmark database and Redis, the collector that drops, the Sentry sink and the
    provider sandbox, for the benchmarks' variants to use; stopped on the way out."""
    otelcol = subprocess.run(["bash", str(ROOT / "collector/build.sh")], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    prepare_database()
    flush_redis()
    collectors = collector(otelcol)
    helpers = [
        collectors[-1],
        Proc("sink", [str(BIN / "python"), str(Path(__file__).parent / "drop_sink.py"), "--port", str(SINK_PORT)], base_env()),
        Proc("sandbox", [str(BIN / "python"), "-m", "apps.core.provider_sandbox", "--port", str(SANDBOX_PORT), "--latency", "0.002"], base_env()),
    ]
    helpers += collectors[:-1]
    try:
        wait_http(COLLECTOR_METRICS, proc=helpers[0])
        wait_http(f"http://127.0.0.1:{SINK_PORT}/stats", proc=helpers[1])
        yield
    finally:
        for proc in helpers:
            proc.stop()


def collector(otelcol: str) -> list[Proc]:
    """The collector the variants send to, on :24317/:24318 with its own metrics on :28888
    (for an agent, the dropping gateway after it)."""
    drop = Path(__file__).parent / "otelcol-drop.yaml"
    if COLLECTOR == "drop":
        return [Proc("collector", [otelcol, "--config", str(drop)], base_env())]
    queue = VAR / "agent-queue"
    shutil.rmtree(queue, ignore_errors=True)
    queue.mkdir(parents=True)
    gateway = free_port()  # nothing listens there when every gateway is down
    behind: list[Proc] = []
    if COLLECTOR == "agent":
        config = VAR / "gateway-drop.yaml"
        config.write_text(drop.read_text().replace("127.0.0.1:24317", f"127.0.0.1:{gateway}").replace("127.0.0.1:24318", f"127.0.0.1:{free_port()}")
                          .replace("port: 28888", f"port: {free_port()}"))
        behind.append(Proc("gateway", [otelcol, "--config", str(config)], base_env()))
    ports = [free_port() for _ in range(4)]
    return [*behind, Proc("collector", [otelcol, "--config", str(ROOT / "collector/agent.yaml")], base_env(
        OTELCOL_OTLP_GRPC_ENDPOINT="127.0.0.1:24317", OTELCOL_OTLP_HTTP_ENDPOINT="127.0.0.1:24318", OTELCOL_SELF_METRICS_PORT="28888",
        OTELCOL_BROWSER_HTTP_ENDPOINT=f"127.0.0.1:{ports[0]}", OTELCOL_HEALTH_ENDPOINT=f"127.0.0.1:{ports[1]}",
        OTELCOL_PPROF_ENDPOINT=f"127.0.0.1:{ports[2]}", OTELCOL_ZPAGES_ENDPOINT=f"127.0.0.1:{ports[3]}",
        GATEWAY_RESOLVER=f"{{static: {{hostnames: [127.0.0.1:{gateway}]}}}}", AGENT_QUEUE_DIR=str(queue)))]


def agent_queued() -> float:
    """Spans the agent holds in its disk queue."""
    return self_metric(COLLECTOR_METRICS_PORT, "otelcol_exporter_queue_size", exporter="load_balancing/traces")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that are alive (gunicorn master + worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(proc.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def collector_spans() -> float:
    return self_metric(COLLECTOR_METRICS_PORT, "otelcol_receiver_accepted_spans")


def sink_stats() -> dict[str, float]:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{SINK_PORT}/stats", timeout=10).read())


def wrk(endpoint: str, duration: float, connections: int) -> dict[str, Any]:
    method, path, script = ENDPOINTS[endpoint]
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    if script:
        argv += ["-s", str(Path(__file__).parent / "wrk" / script)]
    else:
        argv += ["-H", "Authorization: Bearer client-1"]
    out = subprocess.run([*argv, f"http://127.0.0.1:{APP_PORT}{path}"], capture_output=True, text=True, check=True).stdout
    latency = {m[0]: _ms(m[1], m[2]) for m in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "p50_ms": latency["50"], "p99_ms": latency["99"], "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# --- the runs -------------------------------------------------------------------------------


SERVER = "wsgi"  # or "asgi": config.asgi under gunicorn's uvicorn worker class (--server)
COLLECTOR = "drop"  # or "agent" or "agent-gateways-down" (--collector)
# Per --collector: the results' file name suffix and what the report says of the collector
# ({queued}: spans in the agent's queue at the end).
COLLECTORS = {
    "drop": ("", ""),
    "agent": ("-agent", "; the collector: collector/agent.yaml before one gateway that drops ({queued:,.0f} spans in its queue at the end)"),
    "agent-gateways-down": ("-gateways-down", "; the collector: collector/agent.yaml with every gateway down for the whole run, "
                            "so it accepted everything into its disk queue ({queued:,.0f} spans held there at the end)"),
}


def start_app(variant: str) -> Proc:
    env = variant_env(variant)
    app = ["--worker-class", "uvicorn.workers.UvicornWorker", "config.asgi:application"] if SERVER == "asgi" else ["config.wsgi"]
    gunicorn = [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{APP_PORT}", "--workers", "1", *app]
    argv = [str(BIN / "opentelemetry-instrument"), *gunicorn] if variant == "stock" else gunicorn
    proc = Proc(f"gunicorn-{variant}", argv, env)
    try:
        wait_http(f"http://127.0.0.1:{APP_PORT}/liveness/", proc=proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def dropped_spans(variant: str, log: str) -> int | None:
    """Spans the application itself reports dropping (ours: counted; stock: a warning, no count)."""
    if variant == "otel_trainerhub":
        counts = [int(n) for n in re.findall(r"exported \d+ spans and dropped (\d+)", log)]
        return sum(counts)
    if variant == "stock":
        return -1 if "Queue is full, likely spans will be dropped" in log else 0
    return None


def run_round(variants: list[str], rnd: int, duration: float, connections: int, settle: float) -> list[Run]:
    runs = []
    order = variants[rnd % len(variants):] + variants[: rnd % len(variants)]
    for variant in order:
        app = start_app(variant)
        try:
            for endpoint in ENDPOINTS:  # warm-up: imports, connections, caches
                wrk(endpoint, 1, connections)
            time.sleep(settle)
            for endpoint in ENDPOINTS:
                spans_before = collector_spans() if variant in ("otel_trainerhub", "stock") else 0
                sink_before = sink_stats() if variant == "sentry" else {}
                cpu_before = cpu_seconds(app.popen.pid)
                result = wrk(endpoint, duration, connections)
                cpu = cpu_seconds(app.popen.pid) - cpu_before
                time.sleep(settle)  # the batch processors' schedule delay: this run's spans arrive
                spans: float | None = None
                extra: dict[str, Any] = {}
                if variant in ("otel_trainerhub", "stock"):
                    spans = (collector_spans() - spans_before) / max(result["requests"], 1)
                elif variant == "sentry":
                    after = sink_stats()
                    spans = (after.get("spans", 0) - sink_before.get("spans", 0)) / max(result["requests"], 1)
                    extra = {k: after[k] - sink_before.get(k, 0) for k in after if k.startswith("discarded_")}
                runs.append(Run(variant, endpoint, rnd, cpu_s=cpu, spans=spans, extra=extra, **result))
                print(f"round {rnd} {variant:16} {endpoint:15} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.2f} ms  "
                      f"p99 {result['p99_ms']:7.2f} ms  cpu {1000 * cpu / max(result['requests'], 1):.3f} s/1k  spans/req {spans if spans is None else round(spans, 2)}",
                      flush=True)
        finally:
            app.stop()
        dropped = dropped_spans(variant, app.text())
        for r in runs:
            if r.variant == variant and r.round == rnd:
                r.dropped = dropped
    return runs


def celery_throughput(variants: list[str], tasks: int, rounds: int) -> list[dict[str, Any]]:
    """Tasks per second of a prefork worker (2 processes) working off a queue of ``tasks`` booking confirmations."""
    results = []
    booking_ids = _booking_ids(tasks)
    for rnd in range(rounds):
        for variant in variants:
            flush_redis()
            target = _notifications() + len(booking_ids)
            _enqueue(booking_ids)
            env = variant_env(variant)
            argv = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING",
                    "--without-gossip", "--without-mingle", "--without-heartbeat"]
            if variant == "stock":
                argv = [str(BIN / "opentelemetry-instrument"), *argv]
            started = time.monotonic()
            worker = Proc(f"celery-{variant}", argv, env)
            try:
                done_at = _wait_all_ran(worker, target, started)
            finally:
                worker.stop()
            elapsed = done_at - started
            results.append({"variant": variant, "round": rnd, "tasks": tasks, "seconds": elapsed, "tasks_per_s": tasks / elapsed})
            print(f"celery round {rnd} {variant:16} {tasks / elapsed:7.1f} tasks/s (start-up included)", flush=True)
    return results


def _booking_ids(n: int) -> list[int]:
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM bookings_booking ORDER BY id LIMIT %s", (n,))]
    return [ids[i % len(ids)] for i in range(n)]  # a booking may be confirmed twice: each run makes one notification


def _notifications() -> int:
    import psycopg

    with psycopg.connect(DATABASE_URL) as conn:
        return int(conn.execute("SELECT count(*) FROM notifications_notification").fetchone()[0])  # type: ignore[index]


def _enqueue(booking_ids: list[int]) -> None:
    code = ("import sys, django; django.setup(); from apps.notifications.tasks import send_booking_confirmation as t\n"
            "for b in map(int, sys.argv[1:]): t.delay(b)")
    subprocess.run([str(BIN / "python"), "-c", code, *map(str, booking_ids)], cwd=FIXTURE, env=base_env(TRAINERHUB_OTEL="off"), check=True)


def _wait_all_ran(worker: Proc, target: int, started: float, timeout: float = 600) -> float:
    """When the notifications table holds ``target`` rows: every task has run."""
    while time.monotonic() - started < timeout:
        if worker.popen.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.text()[-3000:]}")
        if _notifications() >= target:
            return time.monotonic()
        time.sleep(0.05)
    raise RuntimeError(f"the worker did not finish the queue; see {worker.log}")


# --- the report -----------------------------------------------------------------------------


def summarise(runs: list[Run]) -> list[dict[str, Any]]:
    rows = []
    for endpoint in ENDPOINTS:
        base = [r for r in runs if r.variant == "baseline" and r.endpoint == endpoint]
        base_rps = statistics.median(r.rps for r in base) if base else None
        base_p99 = statistics.median(r.p99_ms for r in base) if base else None
        base_cpu = statistics.median(1000 * r.cpu_s / r.requests for r in base) if base else None
        for variant in VARIANTS:
            mine = [r for r in runs if r.variant == variant and r.endpoint == endpoint]
            if not mine:
                continue
            row: dict[str, Any] = {
                "endpoint": endpoint,
                "variant": variant,
                "rounds": len(mine),
                "rps": statistics.median(r.rps for r in mine),
                "p50_ms": statistics.median(r.p50_ms for r in mine),
                "p99_ms": statistics.median(r.p99_ms for r in mine),
                "cpu_s_per_1k": statistics.median(1000 * r.cpu_s / r.requests for r in mine),
                "spans_per_request": statistics.median(r.spans for r in mine) if mine[0].spans is not None else None,
                "dropped": None if mine[0].dropped is None else (-1 if any(r.dropped == -1 for r in mine) else max(r.dropped or 0 for r in mine)),
                "non_2xx": sum(r.non_2xx for r in mine),
                "sentry_discarded": {k: sum(r.extra.get(k, 0) for r in mine) for r in mine for k in r.extra} or None,
            }
            if base_rps:
                row |= {"rps_ratio": row["rps"] / base_rps, "p99_ratio": row["p99_ms"] / base_p99, "cpu_ratio": row["cpu_s_per_1k"] / base_cpu}
            rows.append(row)
    return rows


def write_report(rows: list[dict[str, Any]], celery: list[dict[str, Any]], runs: list[Run], meta: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    celery_rows = []
    for variant in VARIANTS:
        mine = [c["tasks_per_s"] for c in celery if c["variant"] == variant]
        if mine:
            celery_rows.append({"variant": variant, "tasks_per_s": statistics.median(mine), "rounds": len(mine)})
    base_tasks = next((c["tasks_per_s"] for c in celery_rows if c["variant"] == "baseline"), None)
    for c in celery_rows:
        c["ratio"] = c["tasks_per_s"] / base_tasks if base_tasks else None
    stem = ("load" if SERVER == "wsgi" else f"load-{SERVER}") + COLLECTORS[COLLECTOR][0]
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "http": rows, "celery": celery_rows, "runs": [r.__dict__ for r in runs], "celery_runs": celery}, indent=2))
    lines = [
        f"# Load benchmark ({meta['date']}, {meta['cpu']}, Python {meta['python']})",
        "",
        f"`{meta['command']}`: {meta['method']}",
        "",
        "| endpoint | variant | req/s | × baseline | p50 ms | p99 ms | p99 × baseline | CPU s / 1k req | CPU × baseline | spans / req | spans dropped |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def fmt(v: Any, f: str = ".2f") -> str:
        return "" if v is None else format(v, f)

    for r in rows:
        dropped = {None: "", -1: "yes (queue full)"}.get(r["dropped"], str(r["dropped"]))
        if r.get("sentry_discarded"):
            dropped = ", ".join(f"{k.removeprefix('discarded_')}: {v}" for k, v in r["sentry_discarded"].items() if v) or "0"
        lines.append(
            f"| {r['endpoint']} | {r['variant']} | {r['rps']:.1f} | {fmt(r.get('rps_ratio'))} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
            f"{fmt(r.get('p99_ratio'))} | {r['cpu_s_per_1k']:.3f} | {fmt(r.get('cpu_ratio'))} | {fmt(r['spans_per_request'], '.1f')} | {dropped} |"
        )
    if celery_rows:
        lines += ["", "Celery: a prefork worker (2 processes) working off queued booking confirmations (DB, e-mail call, cache), start-up included:", "",
                  "| variant | tasks/s | × baseline |", "| --- | ---: | ---: |"]
        lines += [f"| {c['variant']} | {c['tasks_per_s']:.1f} | {fmt(c['ratio'])} |" for c in celery_rows]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, RESULTS / f"{stem}.png", meta)


def plot(rows: list[dict[str, Any]], path: Path, meta: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    endpoints = list(dict.fromkeys(r["endpoint"] for r in rows))
    variants = [v for v in VARIANTS if v != "baseline" and any(r["variant"] == v for r in rows)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(len(variants), 1)
    for ax, key, title in ((axes[0], "rps_ratio", "requests/s × baseline (higher is better)"), (axes[1], "p99_ratio", "p99 latency × baseline (lower is better)")):
        for i, v in enumerate(variants):
            values = [next((r.get(key) or 0 for r in rows if r["endpoint"] == e and r["variant"] == v), 0) for e in endpoints]
            ax.bar([x + i * width for x in range(len(endpoints))], values, width, label=v)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks([x + width * (len(variants) - 1) / 2 for x in range(len(endpoints))], endpoints)
        ax.set_title(title)
        ax.legend()
    worker = "uvicorn worker (ASGI)" if SERVER == "asgi" else "sync worker"
    fig.suptitle(f"TrainerHub fixture under wrk, one gunicorn {worker} ({meta['date'][:10]}, {meta['cpu']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip() + f" ({os.cpu_count()} cores)"
    return platform.processor() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of wrk per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--settle", type=float, default=6.0, help="seconds for the exporters' batches to arrive after a run")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--tasks", type=int, default=600, help="Celery tasks per run (0: skip the Celery benchmark)")
    parser.add_argument("--server", choices=("wsgi", "asgi"), default="wsgi", help="sync workers on config.wsgi, or uvicorn workers on config.asgi")
    parser.add_argument("--collector", choices=tuple(COLLECTORS), default="drop",
                        help="a collector that drops, or collector/agent.yaml before a dropping gateway, or with every gateway down (it queues on disk)")
    args = parser.parse_args()
    global SERVER, COLLECTOR
    SERVER, COLLECTOR = args.server, args.collector
    variants = args.variants.split(",")
    unknown = set(variants) - set(VARIANTS)
    if unknown or "baseline" not in variants:
        parser.error(f"--variants: choose among {', '.join(VARIANTS)}, baseline included (got {args.variants})")
    if not shutil.which("wrk"):
        parser.error("wrk is not installed: bash .ci/stack-tools.sh installs it (Debian's package)")
    for port in (APP_PORT, SANDBOX_PORT, SINK_PORT, 24317, 24318, 28888):
        if not port_free(port):
            parser.error(f"port {port} on 127.0.0.1 is taken; the benchmark needs it")
    VAR.mkdir(parents=True, exist_ok=True)
    for old in VAR.glob("*.log"):
        old.unlink()
    print("preparing the database and services", flush=True)
    with services():
        runs: list[Run] = []
        for rnd in range(args.rounds):
            runs += run_round(variants, rnd, args.duration, args.connections, args.settle)
        celery = celery_throughput(variants, args.tasks, max(1, args.rounds - 1)) if args.tasks else []
        queued = agent_queued() if COLLECTOR != "drop" else 0.0
    meta = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "command": "python benchmarks/load.py " + " ".join(sys.argv[1:]),
        "method": (f"wrk -t1 -c{args.connections}, {args.duration:g} s per endpoint per round, {args.rounds} rounds with the variants interleaved "
                   f"in rotating order, medians; gunicorn with one {'uvicorn (ASGI)' if SERVER == 'asgi' else 'sync'} worker (--preload) on PostgreSQL and Redis on the same machine; "
                   "CPU is the gunicorn processes' user+system time; spans per request as received by the sink"
                   + COLLECTORS[COLLECTOR][1].format(queued=queued)),
    }
    write_report(summarise(runs), celery, runs, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
