"""The two collector tiers on loopback, from the built distribution and the committed configs
(collector/agent.yaml, collector/gateway.yaml): gateways, agents, and what the tests feed
them and read back.

Gateways listen on one port at 127.0.0.1, 127.0.0.2, 127.0.0.3 ... so that an agent can find
them as a headless Kubernetes service would list them: one name, one address per gateway
(``dns_resolver``). The name is served from a hosts file bound over /etc/hosts in the agent's
own mount namespace (``unshare``), and a test takes a stopped gateway out of it as a service
takes out a pod that is not ready.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

from tests.support.stack import ROOT, Proc, built, free_port

GATEWAY_NAME = "otelcol-gateways"


def self_metric(port: int, name: str, **labels: str) -> float:
    """The sum of a collector's own metric ``name`` (its Prometheus endpoint) over the series
    whose labels include ``labels``."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


def _healthy(port: int) -> bool:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status == 200
    except OSError:
        return False


class Collector:
    """One collector process of either tier."""

    def __init__(self, name: str, configs: list[Path], env: dict[str, str], log_dir: Path, wrap: list[str] | None = None) -> None:
        self.name = name
        self.configs = configs
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELCOL_"))} | env | {
            "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{free_port()}",
            "OTELCOL_SELF_METRICS_PORT": str(self.metrics_port),
        }
        self.log_dir = log_dir
        self.wrap = wrap or []
        self.runs = 0
        self.proc: Proc | None = None

    def start(self, timeout: float = 60.0) -> Collector:
        argv = [built("collector/build.sh", "OTELCOL_BIN")]
        for config in self.configs:
            argv += ["--config", str(config)]
        self.runs += 1
        self.proc = Proc(f"{self.name}-{self.runs}", self.wrap + argv, self.env, self.log_dir, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while not _healthy(self.health_port):
            if self.proc.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.popen.returncode}:\n{self.proc.output()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} not healthy after {timeout}s:\n{self.proc.output()[-4000:]}")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=30)
            self.proc = None

    def metric(self, name: str, **labels: str) -> float:
        return self_metric(self.metrics_port, name, **labels)

    def output(self) -> str:
        return self.proc.output() if self.proc else ""


class Agent(Collector):
    def __init__(self, name: str, configs: list[Path], env: dict[str, str], log_dir: Path, wrap: list[str] | None = None) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        self.queue_dir = log_dir / f"{name}-queue"
        self.queue_dir.mkdir(exist_ok=True)
        super().__init__(name, configs, env | {
            "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.grpc_port}",
            "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.http_port}",
            "OTELCOL_BROWSER_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
            "AGENT_QUEUE_DIR": str(self.queue_dir),
        }, log_dir, wrap)
        self.grpc_endpoint = f"127.0.0.1:{self.grpc_port}"
        self.http_endpoint = f"http://127.0.0.1:{self.http_port}"

    def queue_bytes(self) -> int:
        """What its sending queues hold on disk."""
        return sum(p.stat().st_size for p in self.queue_dir.rglob("*") if p.is_file())


class Tiers:
    """``gateways`` gateways and the agents a test asks for, all sending on to ``downstream``
    (an OTLP/gRPC endpoint: Jaeger, or a receiver that counts)."""

    def __init__(self, log_dir: Path, downstream: str, *, gateways: int = 3, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.gateway_port = free_port()
        self.hosts = log_dir / "hosts"
        common = {
            "JAEGER_OTLP_GRPC_ENDPOINT": downstream.removeprefix("http://"),
            # Nothing listens there: those exporters fail (and count it); the tests read traces.
            "PROMETHEUS_REMOTE_WRITE_URL": "http://127.0.0.1:9/api/v1/write",
            "TAIL_SAMPLING_PERCENT": "100",
            "TAIL_SAMPLING_DECISION_WAIT": "2s",
        } | (env or {})
        self.gateways = [
            Collector(f"gateway-{i + 1}", [ROOT / "collector/gateway.yaml"],
                      common | {"OTELCOL_OTLP_GRPC_ENDPOINT": f"{self.address(i)}:{self.gateway_port}"}, log_dir)
            for i in range(gateways)
        ]
        self.agents: list[Agent] = []
        self.write_hosts(range(gateways))

    @staticmethod
    def address(i: int) -> str:
        return f"127.0.0.{i + 1}"

    def write_hosts(self, live: range | list[int]) -> None:
        """The name the agents resolve, listing the gateways in ``live``; written in place (the
        agents see the file through a bind mount, which a rename would leave behind)."""
        lines = ["127.0.0.1 localhost"] + [f"{self.address(i)} {GATEWAY_NAME}" for i in live]
        with open(self.hosts, "w") as f:
            f.write("\n".join(lines) + "\n")

    def agent(self, name: str, *, dns: bool = False, env: dict[str, str] | None = None) -> Agent:
        """An agent (not started) routing to the gateways by a static list, or by DNS."""
        if dns:
            resolver = f"{{dns: {{hostname: {GATEWAY_NAME}, port: '{self.gateway_port}', interval: 1s, timeout: 1s}}}}"
        else:
            hostnames = ", ".join(f"{self.address(i)}:{self.gateway_port}" for i in range(len(self.gateways)))
            resolver = f"{{static: {{hostnames: [{hostnames}]}}}}"
        # With DNS, its own /etc/hosts in its own mount namespace: the machine's stays untouched.
        wrap = ["unshare", "--mount", "sh", "-c", f'mount --bind {self.hosts} /etc/hosts && exec "$0" "$@"'] if dns else None
        agent = Agent(name, [ROOT / "collector/agent.yaml"], {"GATEWAY_RESOLVER": resolver, "SPANMETRICS_FLUSH_INTERVAL": "1s"} | (env or {}),
                      self.log_dir, wrap)
        self.agents.append(agent)
        return agent

    def start(self) -> Tiers:
        for gateway in self.gateways:
            gateway.start()
        return self

    def stop(self) -> None:
        for c in [*self.agents, *self.gateways]:
            c.stop()


def require_unshare() -> None:
    assert shutil.which("unshare"), "unshare (util-linux) is needed to give an agent its own /etc/hosts"
