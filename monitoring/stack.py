"""The local TrainerHub stack: every component of the telemetry path as a real process.

    bin/stack up       # start what is not running, wait until each one answers
    bin/stack status   # what runs, where
    bin/stack down     # stop everything `up` started (PostgreSQL and Redis stay up)
    bin/stack up --scale   # the two collector tiers instead of one collector (docs/collector.md)

`bin/stack` installs what is missing (Debian's packages, the collector and Jaeger builds)
and then runs this module. Components, in start order, on loopback:

    node / Redis / PostgreSQL exporters   :9100 :9121 :9187  scraped by the collector
    Prometheus                            :9090              remote-write receiver
    Jaeger v2 (Badger on disk)            :16686 web UI (../shared/jaeger-ui/build), its Monitor tab and the
                                                             query API, OTLP in on :14317
    trace logs                            :8767              /trace/<id>: the JSON log lines of one trace
    Sentry stand-in (without SENTRY_DSN)  :8766              records what Sentry would get
    TrainerHub collector                  :4317 :4318 OTLP, :8888 own metrics, :13133 health
      or, with --scale, the two tiers:
      agent-web (gunicorn's)              :4317 :4318 OTLP, :4329 browsers, :8888, :13133, also scrapes the exporters
      agent-worker (Celery's)             :4319 :4320 OTLP, :4330, :8889, :13136
      gateway-1..3                        :4417 :4427 :4437 OTLP/gRPC, :8891-8893, :13141-13143
    provider sandbox                      :8765              SendGrid, Twilio, Stripe stand-in
    the fixture under gunicorn            :8000
    a Celery prefork worker
    nginx, the TLS front (self-signed)    :8443              https://127.0.0.1:8443 -> :8000
      and the browsers' intake            :4328              rate-limited -> the collector's otlp/browser on :4329
    blackbox exporter                     :9115              probes https://127.0.0.1:8443/health/
    Alertmanager                          :9093              the alert rules' routing

State (pid files, logs, Prometheus data, Jaeger's traces) lives in $TRAINERHUB_STACK_DIR
(var/stack). Jaeger keeps traces for JAEGER_TRACE_RETENTION (168h) across restarts;
JAEGER_TRACE_STORAGE=memory keeps them in memory only (JAEGER_MAX_TRACES, 100000).
With SENTRY_DSN set, the collector sends to that project's OTLP endpoints instead of the
stand-in, and the application's sentry-sdk reports there too.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "app_fixture"
VENV_BIN = Path(sys.executable).parent


class StackError(RuntimeError):
    pass


# The prebuilt Jaeger web UI (third-party, read-only): served from where it is.
JAEGER_UI_DEFAULT = ROOT.parent / "shared" / "jaeger-ui" / "build"


def jaeger_ui_assets() -> Path | None:
    """The folder of the Jaeger UI's built assets (``JAEGER_UI_ASSETS``, else the shared build),
    or None when there is none to serve."""
    folder = Path(os.environ.get("JAEGER_UI_ASSETS") or JAEGER_UI_DEFAULT)
    return folder.resolve() if (folder / "index.html").is_file() else None


@dataclass
class Component:
    name: str
    argv: list[str]
    ports: tuple[int, ...]
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    url: str = ""


def http_ok(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return 200 <= response.status < 300
        except (OSError, urllib.error.URLError):
            return False

    return check


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _without_telemetry_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment minus OTEL_* and SENTRY_*: each component gets its own."""
    return {k: v for k, v in env.items() if not k.startswith(("OTEL_", "SENTRY_"))}


def _git_version() -> str:
    """service.version for the stack's application: the checkout's commit (feeds DeploymentCompleted)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "dev"
    except OSError:
        return "dev"


def sentry_otlp_from_dsn(dsn: str) -> dict[str, str]:
    """Sentry's OTLP endpoints and auth header for a DSN ``https://<key>@<host>/<project>``."""
    parts = urllib.parse.urlsplit(dsn)
    project = parts.path.strip("/").rsplit("/", 1)[-1]
    if not parts.username or not project.isdigit() or not parts.hostname:
        raise StackError("SENTRY_DSN is not a Sentry DSN such as https://<key>@o1.ingest.sentry.io/<project-id>")
    base = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/api/{project}/integration/otlp/v1"
    return {
        "SENTRY_OTLP_TRACES_ENDPOINT": f"{base}/traces",
        "SENTRY_OTLP_LOGS_ENDPOINT": f"{base}/logs",
        "SENTRY_OTLP_AUTH": f"sentry sentry_key={parts.username}",
    }


class Stack:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.pids = state_dir / "pids"
        self.logs = state_dir / "logs"
        env = os.environ
        self.database_url = env.get("DATABASE_URL", "postgres://trainerhub:trainerhub@127.0.0.1:5432/trainerhub")
        self.redis_url = env.get("REDIS_URL", "redis://127.0.0.1:6379")
        self.app_port = int(env.get("TRAINERHUB_APP_PORT", "8000"))
        self.sandbox_port = int(env.get("TRAINERHUB_SANDBOX_PORT", "8765"))
        self.sentry_standin_port = int(env.get("TRAINERHUB_SENTRY_STANDIN_PORT", "8766"))
        # The collector layout of the stack that runs (`up --scale` writes it), so that status
        # and down see the same components as up.
        self.layout_file = state_dir / "collector-layout"
        self.scaled = self.layout_file.exists() and self.layout_file.read_text().strip() == "tiers"
        if env.get("SENTRY_DSN"):
            self.sentry = sentry_otlp_from_dsn(env["SENTRY_DSN"])
        elif env.get("SENTRY_OTLP_TRACES_ENDPOINT"):
            self.sentry = {k: env[k] for k in ("SENTRY_OTLP_TRACES_ENDPOINT", "SENTRY_OTLP_LOGS_ENDPOINT", "SENTRY_OTLP_AUTH") if k in env}
        else:
            self.sentry = {}

    def components(self) -> list[Component]:
        pg = urllib.parse.urlsplit(self.database_url)
        redis = urllib.parse.urlsplit(self.redis_url)
        otelcol = os.environ.get("OTELCOL_BIN") or "otelcol-trainerhub"
        jaeger = os.environ.get("JAEGER_BIN") or "jaeger"
        if os.environ.get("JAEGER_TRACE_STORAGE", "badger") not in ("badger", "memory"):
            raise StackError(f"JAEGER_TRACE_STORAGE={os.environ['JAEGER_TRACE_STORAGE']!r}: expected badger (on disk, the default) or memory")
        # The application gets the caller's OTEL_* settings over these defaults.
        app_env = {
            "PYTHONPATH": str(FIXTURE),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PROVIDERS_BASE_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "TRAINERHUB_VAR_DIR": str(self.dir / "app"),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "OTEL_SERVICE_NAME": "trainerhub",
            "OTEL_METRIC_EXPORT_INTERVAL": "10000",
            "ENVIRONMENT": "development",
            "RELEASE_VERSION": os.environ.get("RELEASE_VERSION") or _git_version(),
            "PYTHONUNBUFFERED": "1",
            # The demo's threshold: the fixture's deliberately slow report (0.8 s) is flagged and
            # its traces kept by tail sampling; the caller's SLOW_REQUEST_* settings win.
            "SLOW_REQUEST_THRESHOLD": "0.5",
            "TRACE_VIEW_URL": "http://127.0.0.1:16686/trace/{trace_id}",  # this stack's Jaeger
            # PostgreSQL's slow-statement log and pg_stat_statements name the route (.ci/services.sh turns both on).
            "OTEL_TRAINERHUB_SQL_COMMENTS": "route",
        } | {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "SLOW_REQUEST_", "TRACE_VIEW_URL", "FRONTEND_"))}
        if os.environ.get("SENTRY_DSN"):
            app_env["SENTRY_DSN"] = os.environ["SENTRY_DSN"]
        # The trainer app at /trainer/ (frontend/, built by bin/stack): its browsers send to the
        # rate-limited intake, and their errors to Sentry (or the stand-in).
        frontend_origins = os.environ.get("FRONTEND_ORIGINS") or f'["http://127.0.0.1:{self.app_port}"]'
        app_env |= {
            "FRONTEND_ORIGINS": frontend_origins,
            "FRONTEND_OTLP_URL": os.environ.get("FRONTEND_OTLP_URL", "http://127.0.0.1:4328"),
            "FRONTEND_SENTRY_DSN": os.environ.get("FRONTEND_SENTRY_DSN") or os.environ.get("SENTRY_DSN")
            or f"http://localstandin@127.0.0.1:{self.sentry_standin_port}/1",  # the browser SDK takes word characters only
        }
        sentry = self.sentry or {
            "SENTRY_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{self.sentry_standin_port}/api/1/integration/otlp/v1/traces",
            "SENTRY_OTLP_LOGS_ENDPOINT": f"http://127.0.0.1:{self.sentry_standin_port}/api/1/integration/otlp/v1/logs",
            "SENTRY_OTLP_AUTH": "sentry sentry_key=local-standin",
        }
        components = [
            Component("node-exporter", ["prometheus-node-exporter", "--web.listen-address=127.0.0.1:9100"], (9100,),
                      http_ok("http://127.0.0.1:9100/metrics")),
            Component("redis-exporter", ["prometheus-redis-exporter", f"-redis.addr=redis://{redis.hostname}:{redis.port or 6379}",
                                         "-web.listen-address=127.0.0.1:9121"], (9121,), http_ok("http://127.0.0.1:9121/metrics")),
            Component("postgres-exporter", ["prometheus-postgres-exporter", "--web.listen-address=127.0.0.1:9187",
                                            f"--extend.query-path={ROOT / 'monitoring/postgres/queries.yaml'}"], (9187,),
                      http_ok("http://127.0.0.1:9187/metrics"),
                      env={"DATA_SOURCE_NAME": urllib.parse.urlunsplit(("postgresql", pg.netloc, pg.path, "sslmode=disable", ""))}),
            Component("prometheus", ["prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
                                     f"--storage.tsdb.path={self.dir / 'prometheus'}", "--web.listen-address=127.0.0.1:9090",
                                     "--web.enable-remote-write-receiver", "--web.enable-lifecycle"], (9090,),
                      http_ok("http://127.0.0.1:9090/-/ready"), url="http://127.0.0.1:9090"),
            Component("jaeger", [jaeger, "--config", str(ROOT / "monitoring/jaeger/jaeger.yaml")], (14317, 14318, 16686, 16685, 13134, 14269),
                      http_ok("http://127.0.0.1:16686/api/services"), url=self._jaeger_url(),
                      env={"JAEGER_UI_ASSETS": str(jaeger_ui_assets() or ""), "JAEGER_UI_CONFIG": str(ROOT / "monitoring/jaeger/ui-config.json"),
                           "JAEGER_DATA_DIR": str(self.dir / "jaeger"), "JAEGER_PROMETHEUS_URL": "http://127.0.0.1:9090"}
                      | {k: v for k, v in os.environ.items() if k in ("JAEGER_TRACE_STORAGE", "JAEGER_TRACE_RETENTION", "JAEGER_MAX_TRACES")}),
            # The Jaeger UI's "Log lines of this trace" link: the application's and worker's JSON lines.
            Component("trace-logs", [str(VENV_BIN / "python"), str(ROOT / "monitoring/trace_logs.py"), "--port", "8767",
                                     "--log", str(self.logs / "gunicorn.log"), "--log", str(self.logs / "celery-worker.log")],
                      (8767,), lambda: port_open(8767), url="http://127.0.0.1:8767/trace/<trace id>"),
        ]
        if not self.sentry:
            components.append(Component(
                "sentry-standin", [str(VENV_BIN / "python"), str(ROOT / "monitoring/sentry_standin.py"), "--port", str(self.sentry_standin_port),
                                   "--record", str(self.dir / "sentry-ingest.jsonl")],
                (self.sentry_standin_port,), lambda: port_open(self.sentry_standin_port), url=str(self.dir / "sentry-ingest.jsonl")))
        knobs = {
            "TAIL_SAMPLING_PERCENT": os.environ.get("TAIL_SAMPLING_PERCENT", "10"),
            "TAIL_SAMPLING_DECISION_WAIT": os.environ.get("TAIL_SAMPLING_DECISION_WAIT", "5s"),
            "SPANMETRICS_FLUSH_INTERVAL": os.environ.get("SPANMETRICS_FLUSH_INTERVAL", "15s"),
            "INFRA_SCRAPE_INTERVAL": os.environ.get("INFRA_SCRAPE_INTERVAL", "15s"),
            "FRONTEND_ORIGINS": frontend_origins,
        }
        worker_env = app_env
        if self.scaled:
            components += self._tiers(otelcol, sentry | knobs)
            worker_env = app_env | {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4320"}
        else:
            components.append(
                Component("collector", [otelcol, "--config", str(ROOT / "collector/otelcol-config.yaml")], (4317, 4318, 4329, 8888, 13133, 1777, 55679),
                          http_ok("http://127.0.0.1:13133/"), env=sentry | knobs, url="http://127.0.0.1:55679/debug/tracez"))
        components += [
            Component("provider-sandbox", [str(VENV_BIN / "python"), "-m", "apps.core.provider_sandbox", "--port", str(self.sandbox_port)],
                      (self.sandbox_port,), lambda: port_open(self.sandbox_port), cwd=FIXTURE, env={"PYTHONPATH": str(FIXTURE)}),
            Component("gunicorn", [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{self.app_port}",
                                   "--workers", os.environ.get("GUNICORN_WORKERS", "2"), "config.wsgi"], (self.app_port,),
                      http_ok(f"http://127.0.0.1:{self.app_port}/liveness/"), cwd=FIXTURE, url=f"http://127.0.0.1:{self.app_port}",
                      # The web workers on Django's psycopg pool (its db.client.connection.* metrics),
                      # the Celery worker on persistent connections (CONN_MAX_AGE): both kinds on show.
                      env=app_env | {"DATABASE_POOL_MAX_SIZE": os.environ.get("DATABASE_POOL_MAX_SIZE", "4")}),
            Component("celery-worker", [str(VENV_BIN / "celery"), "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2",
                                        "--loglevel", "INFO", "--hostname", "trainerhub@%h"], (),
                      lambda: "ready" in self._log_text("celery-worker"), env=worker_env, cwd=FIXTURE),
            Component("nginx", ["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)], (8443, 4328),
                      lambda: port_open(8443), url="https://127.0.0.1:8443"),
            Component("blackbox-exporter", ["prometheus-blackbox-exporter", f"--config.file={ROOT / 'monitoring/blackbox/blackbox.yml'}",
                                            "--web.listen-address=127.0.0.1:9115"], (9115,), http_ok("http://127.0.0.1:9115/metrics")),
            Component("alertmanager", ["prometheus-alertmanager", f"--config.file={self.dir / 'alertmanager.yml'}",
                                       f"--storage.path={self.dir / 'alertmanager'}", "--web.listen-address=127.0.0.1:9093",
                                       "--cluster.listen-address="], (9093,), http_ok("http://127.0.0.1:9093/-/ready"), url="http://127.0.0.1:9093"),
        ]
        return components

    def _tiers(self, otelcol: str, env: dict[str, str]) -> list[Component]:
        """Three gateways, then an agent per process group (gunicorn's, which also scrapes the
        exporters, and the Celery worker's), each agent queueing on disk in the stack directory."""
        ports = {i: 4407 + 10 * i for i in (1, 2, 3)}  # 4417, 4427, 4437
        gateways = [f"127.0.0.1:{ports[i]}" for i in (1, 2, 3)]
        out = [
            Component(f"gateway-{i}", [otelcol, "--config", str(ROOT / "collector/gateway.yaml")], (ports[i], 8890 + i, 13140 + i, 1780 + i),
                      http_ok(f"http://127.0.0.1:{13140 + i}/"), env=env | {
                          "OTELCOL_OTLP_GRPC_ENDPOINT": gateways[i - 1], "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{13140 + i}",
                          "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{1780 + i}", "OTELCOL_SELF_METRICS_PORT": str(8890 + i)},
                      url=gateways[i - 1])
            for i in (1, 2, 3)
        ]
        resolver = "{static: {hostnames: [" + ", ".join(gateways) + "]}}"
        for name, grpc, self_port, health, pprof, extra in (("agent-web", 4317, 8888, 13133, 1777, ["--config", str(ROOT / "collector/agent-infrastructure.yaml")]),
                                                            ("agent-worker", 4319, 8889, 13136, 1778, [])):
            browser = 4329 if name == "agent-web" else 4330  # nginx's browser intake goes to gunicorn's agent
            out.append(Component(name, [otelcol, "--config", str(ROOT / "collector/agent.yaml"), *extra], (grpc, grpc + 1, browser, self_port, health, pprof),
                                 http_ok(f"http://127.0.0.1:{health}/"), env=env | {
                                     "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}", "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{grpc + 1}",
                                     "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{health}", "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{pprof}",
                                     "OTELCOL_SELF_METRICS_PORT": str(self_port), "GATEWAY_RESOLVER": resolver,
                                     "AGENT_QUEUE_DIR": str(self.dir / f"{name}-queue"), "OTELCOL_BROWSER_HTTP_ENDPOINT": f"127.0.0.1:{browser}"},
                                 url=f"http://127.0.0.1:{grpc + 1} (queue: {self.dir / (name + '-queue')})"))
        return out

    def _prometheus_config(self) -> Path:
        """The committed Prometheus config, scraping each collector of the layout that runs."""
        def replaced(text: str, old: str, new: str) -> str:
            if old not in text:
                raise StackError(f"monitoring/prometheus/prometheus.yml no longer has {old.strip()!r}, which bin/stack rewrites")
            return text.replace(old, new, 1)

        text = replaced((ROOT / "monitoring/prometheus/prometheus.yml").read_text(), "  - rules/*.yml", f"  - {ROOT / 'monitoring/prometheus/rules'}/*.yml")
        if self.scaled:
            tiers = ('      - targets: ["127.0.0.1:8888", "127.0.0.1:8889"]\n        labels: {tier: agent}\n'
                     '      - targets: ["127.0.0.1:8891", "127.0.0.1:8892", "127.0.0.1:8893"]\n        labels: {tier: gateway}\n')
            text = replaced(text, '      - targets: ["127.0.0.1:8888"]\n', tiers)
        return self._write(self.dir / "prometheus.yml", text)

    def _write(self, path: Path, text: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def _prepare_configs(self) -> None:
        """nginx's config for this stack directory and a self-signed certificate (90 days, as
        Let's Encrypt's); Alertmanager's config with its secret files pointed at local
        placeholders (no real receiver is reachable from here: notifications fail, visibly)."""
        secrets = self.dir / "alertmanager-secrets"
        text = (ROOT / "monitoring/alertmanager/alertmanager.yml").read_text().replace("/etc/alertmanager/secrets", str(secrets))
        self._write(self.dir / "alertmanager.yml", text)
        self._prometheus_config()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / "nginx-tmp" / sub).mkdir(parents=True, exist_ok=True)
        self._write(self.dir / "nginx.conf", (ROOT / "monitoring/nginx/trainerhub.conf.template").read_text().replace("@STACK_DIR@", str(self.dir)))
        tls = self.dir / "tls"
        if not (tls / "cert.pem").exists():
            tls.mkdir(parents=True, exist_ok=True)
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90", "-subj", "/CN=127.0.0.1",
                            "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem")], check=True, capture_output=True)
        for name in ("smtp_password", "slack_webhook_url", "pagerduty_routing_key"):
            placeholder = self.dir / "alertmanager-secrets" / name
            if not placeholder.exists():
                self._write(placeholder, "http://127.0.0.1:9/not-configured\n" if name == "slack_webhook_url" else "not-configured\n")

    # --- process bookkeeping -------------------------------------------------------------
    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.pids / f"{name}.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def _log_text(self, name: str) -> str:
        try:
            return (self.logs / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def _start(self, c: Component, timeout: float) -> None:
        if self._pid(c.name):
            print(f"  {c.name:18} already running")
            return
        busy = [p for p in c.ports if port_open(p)]
        if busy:
            raise StackError(f"{c.name}: port {', '.join(map(str, busy))} on 127.0.0.1 is taken by another process; stop it or run `bin/stack down`")
        env = _without_telemetry_settings(os.environ) | c.env
        log = open(self.logs / f"{c.name}.log", "ab")
        proc = subprocess.Popen(c.argv, cwd=c.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        (self.pids / f"{c.name}.pid").write_text(str(proc.pid))
        started = time.monotonic()
        while not c.ready():
            if proc.poll() is not None:
                tail = "\n".join(self._log_text(c.name).splitlines()[-15:])
                raise StackError(f"{c.name} exited with status {proc.returncode}; last lines of {self.logs / (c.name + '.log')}:\n{tail}")
            if time.monotonic() - started > timeout:
                raise StackError(f"{c.name} did not become ready in {timeout:.0f} s; see {self.logs / (c.name + '.log')}")
            time.sleep(0.2)
        print(f"  {c.name:18} ready in {time.monotonic() - started:4.1f} s  {c.url}")

    def _prepare_database(self, app_env: dict[str, str]) -> None:
        env = _without_telemetry_settings(os.environ) | app_env | {"OTEL_SDK_DISABLED": "true"}
        for args in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
            result = subprocess.run([str(VENV_BIN / "python"), "manage.py", *args], cwd=FIXTURE, env=env, capture_output=True, text=True)
            if result.returncode:
                raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def up(self, timeout: float, scale: bool = False) -> None:
        for d in (self.pids, self.logs, self.dir / "app"):
            d.mkdir(parents=True, exist_ok=True)
        running = [c.name for c in self.components() if self._pid(c.name)]
        if running and scale != self.scaled:
            raise StackError(f"the stack runs with {'the two collector tiers' if self.scaled else 'one collector'}; "
                             "run `bin/stack down` before switching layouts")
        self.scaled = scale
        self.layout_file.write_text("tiers\n" if scale else "single\n")
        self._prepare_configs()
        components = self.components()
        print(f"stack: starting in {self.dir}")
        for c in components:
            if c.name == "gunicorn" and not self._pid("gunicorn"):
                self._prepare_database(c.env)
            self._start(c, timeout)
        print("stack: up. Drive traffic with: .venv/bin/python app_fixture/traffic.py --base-url "
              f"http://127.0.0.1:{self.app_port} --rounds 5")

    def down(self, timeout: float = 20.0) -> None:
        for c in reversed(self.components()):
            pid = self._pid(c.name)
            if pid is None:
                continue
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
            deadline = time.monotonic() + timeout
            while self._pid(c.name) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._pid(c.name):
                os.killpg(pid, signal.SIGKILL)
            (self.pids / f"{c.name}.pid").unlink(missing_ok=True)
            print(f"  {c.name:18} stopped")
        print("stack: down (PostgreSQL and Redis are left running)")

    @staticmethod
    def _jaeger_url() -> str:
        if jaeger_ui_assets() is None:
            return (f"http://127.0.0.1:16686 (API only: no web UI assets at {JAEGER_UI_DEFAULT}; "
                    "set JAEGER_UI_ASSETS to a jaeger-ui build, or Jaeger serves its placeholder page)")
        return "http://127.0.0.1:16686"

    def status(self) -> int:
        down = 0
        for c in self.components():
            pid = self._pid(c.name)
            state = "ready" if pid and c.ready() else "running, not ready" if pid else "stopped"
            down += state != "ready"
            print(f"  {c.name:18} {state:20} {c.url}")
        print(json.dumps({"components_not_ready": down}))
        return 1 if down else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds each component gets to become ready")
    parser.add_argument("--scale", action="store_true",
                        help="up: run the two collector tiers (an agent per process group, three gateways) instead of one collector")
    args = parser.parse_args()
    stack = Stack(Path(os.environ.get("TRAINERHUB_STACK_DIR", ROOT / "var" / "stack")).resolve())
    try:
        if args.command == "up":
            stack.up(args.timeout, scale=args.scale)
        elif args.command == "down":
            stack.down()
        else:
            return stack.status()
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
