"""What the collector costs per span, for each role of the distribution.

    python benchmarks/collector.py            # about 3 minutes; writes benchmarks/results/collector.{md,json}

telemetrygen (built once with `go install`, cached next to the collector) sends 5-span traces
whose spans carry attributes shaped like ours (a SQL statement, a URL and route, a user agent,
our root attributes) at a fixed rate over OTLP/gRPC to:

- single:  collector/otelcol-config.yaml (redaction, spanmetrics, tail sampling, fan-out);
- agent:   collector/agent.yaml (redaction, spanmetrics, the persistent queue, load balancing)
           in front of one gateway, and the same agent without its two redaction processors;
- gateway: collector/gateway.yaml (tail sampling, fan-out), measured in the agent runs.

Every collector sends on to a collector that drops (benchmarks/otelcol-drop.yaml), standing in
for Jaeger and Sentry. Spans per CPU-second = spans the process accepted / its user+system CPU
time over the run (/proc); memory is the peak resident set. A 10 s CPU profile of the agent
(its pprof endpoint, `go tool pprof -top`) says where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.stack import built, free_port  # noqa: E402  (the same helpers as the tier tests)
from tests.support.tiers import self_metric  # noqa: E402
RESULTS = ROOT / "benchmarks/results"
CACHE = Path(os.environ.get("TRAINERHUB_CACHE_DIR", "/var/cache/otel-trainerhub"))
TELEMETRYGEN = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v0.161.0"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# One span's attributes, shaped like what the application sends (docs/telemetry.md).
ATTRIBUTES = {
    "db.system": "postgresql",
    "db.statement": 'SELECT "bookings_booking"."id", "bookings_booking"."starts_at" FROM "bookings_booking" WHERE "bookings_booking"."client_id" = %s',
    "http.route": "api/bookings/",
    "url.path": "/api/bookings/",
    "http.request.method": "GET",
    "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "trainerhub.route": "api/bookings/",
    "trainerhub.db.count": "3",
}


def telemetrygen() -> str:
    binary = CACHE / "gobin" / "telemetrygen-v0.161.0"
    if not binary.exists():
        binary.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as gobin:
            subprocess.run(["go", "install", TELEMETRYGEN], check=True, env=os.environ | {"GOBIN": gobin, "CGO_ENABLED": "0", "GOFLAGS": "-trimpath -buildvcs=false"})
            (Path(gobin) / "telemetrygen").rename(binary)
    return str(binary)


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path, health: int | None = None) -> None:
        self.name = name
        self.log = open(log_dir / f"{name}.log", "wb")
        self.popen = subprocess.Popen(argv, env=os.environ | env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while health and not _ok(f"http://127.0.0.1:{health}/"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {(log_dir / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss_mib(self) -> float:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{self.popen.pid}/status").read_text())
        return int(m.group(1)) / 1024 if m else 0.0

    def rss_mib(self) -> float:
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{self.popen.pid}/status").read_text())
        return int(m.group(1)) / 1024 if m else 0.0

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
        self.log.close()


def _ok(url: str) -> bool:
    try:
        return urllib.request.urlopen(url, timeout=1).status == 200
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class Collector(Process):
    def __init__(self, name: str, configs: list[Path], env: dict[str, str], log_dir: Path) -> None:
        self.health, self.metrics, self.pprof = free_port(), free_port(), free_port()
        argv = [built("collector/build.sh", "OTELCOL_BIN")]
        for c in configs:
            argv += ["--config", str(c)]
        super().__init__(name, argv, env | {"OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{self.health}", "OTELCOL_SELF_METRICS_PORT": str(self.metrics),
                                            "OTELCOL_PPROF_ENDPOINT": f"127.0.0.1:{self.pprof}", "OTELCOL_ZPAGES_ENDPOINT": f"127.0.0.1:{free_port()}"},
                         log_dir, self.health)

    def accepted(self) -> float:
        return self_metric(self.metrics, "otelcol_receiver_accepted_spans")


def without_redaction(config: Path, out: Path) -> Path:
    text = config.read_text().replace("processors: [memory_limiter, redaction, transform/redact_text, batch]", "processors: [memory_limiter, batch]")
    text = text.replace("processors: [memory_limiter, redaction, transform/redact_text]", "processors: [memory_limiter]")
    assert "redaction, transform" not in text.split("pipelines:")[1]
    out.write_text(text)
    return out


def run(layout: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    downstream = Process(f"{layout}-drop", [built("collector/build.sh", "OTELCOL_BIN"), "--config", str(ROOT / "benchmarks/otelcol-drop.yaml")], {}, work)
    deadline = time.monotonic() + 60
    while not _listening(24317):
        if downstream.popen.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the dropping collector did not start: {(work / f'{layout}-drop.log').read_text()[-2000:]}")
        time.sleep(0.2)
    sinks = {
        "JAEGER_OTLP_GRPC_ENDPOINT": "127.0.0.1:24317",
        "SENTRY_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:24318/v1/traces",
        "SENTRY_OTLP_LOGS_ENDPOINT": "http://127.0.0.1:24318/v1/logs",
        "PROMETHEUS_REMOTE_WRITE_URL": "http://127.0.0.1:9/api/v1/write",
        "TAIL_SAMPLING_DECISION_WAIT": "5s",
    }
    measured: list[Collector] = []
    try:
        if layout == "single":
            grpc = free_port()
            front = Collector("single", [ROOT / "collector/otelcol-config.yaml"], sinks | {
                "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}", "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}", "OTELCOL_BROWSER_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
                "NODE_EXPORTER_TARGET": "127.0.0.1:9", "REDIS_EXPORTER_TARGET": "127.0.0.1:9", "POSTGRES_EXPORTER_TARGET": "127.0.0.1:9"}, work)
            measured = [front]
        else:
            gw_port = free_port()
            gateway = Collector(f"{layout}-gateway", [ROOT / "collector/gateway.yaml"], sinks | {"OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{gw_port}"}, work)
            config = ROOT / "collector/agent.yaml"
            if layout == "agent-without-redaction":
                config = without_redaction(config, work / "agent-without-redaction.yaml")
            grpc = free_port()
            (work / f"{layout}-queue").mkdir(exist_ok=True)
            front = Collector(f"{layout}-agent", [config], {
                "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}", "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}", "OTELCOL_BROWSER_HTTP_ENDPOINT": f"127.0.0.1:{free_port()}",
                "GATEWAY_RESOLVER": f"{{static: {{hostnames: [127.0.0.1:{gw_port}]}}}}", "AGENT_QUEUE_DIR": str(work / f"{layout}-queue")}, work)
            measured = [front, gateway]
        cpu0 = [c.cpu_seconds() for c in measured]
        idle_rss = measured[-1].rss_mib()
        gen = subprocess.Popen([telemetrygen(), "traces", "--otlp-insecure", "--otlp-endpoint", f"127.0.0.1:{grpc}", "--child-spans", "4",
                                "--workers", "2", "--rate", str(args.spans_per_second / 2), "--duration", f"{args.duration}s",
                                *[a for k, v in ATTRIBUTES.items() for a in ("--telemetry-attributes", f'{k}="{v}"')]],
                               stdout=subprocess.DEVNULL, stderr=open(work / f"{layout}-telemetrygen.log", "wb"))
        profile: list[str] = []
        held: list[tuple[float, float]] = []
        if layout.startswith("agent"):
            time.sleep(2)
            raw = urllib.request.urlopen(f"http://127.0.0.1:{front.pprof}/debug/pprof/profile?seconds=10", timeout=30).read()
            (work / f"{layout}.pprof").write_bytes(raw)
            top = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=12", str(work / f"{layout}.pprof")], capture_output=True, text=True)
            profile = [line for line in top.stdout.splitlines() if line.strip()][:20]
        while gen.poll() is None:
            if layout != "agent-without-redaction":
                tail = measured[-1]
                held.append((self_metric(tail.metrics, "otelcol_processor_tail_sampling_sampling_traces_on_memory"), tail.rss_mib()))
            time.sleep(1)
        time.sleep(3)
        out: dict[str, object] = {"layout": layout}
        for c, before in zip(measured, cpu0):
            cpu = c.cpu_seconds() - before
            spans = c.accepted()
            role = c.name.split("-")[-1]
            out[role] = {"spans": spans, "cpu_seconds": round(cpu, 2), "spans_per_cpu_second": round(spans / cpu) if cpu else None,
                         "peak_rss_mib": round(c.peak_rss_mib(), 1)}
        if held:
            traces, rss = max(held)
            out["traces_in_flight"] = traces
            out["rss_mib_at_most_traces"] = round(rss, 1)
            out["rss_mib_idle"] = round(idle_rss, 1)
            out["mib_per_10k_traces"] = round((rss - idle_rss) / traces * 10_000, 1) if traces else None
        if profile:
            out["agent_profile_top"] = profile
        return out
    finally:
        for c in [*measured, downstream]:
            c.stop()


def report(runs: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = [f"# What the collector costs per span ({datetime.now(timezone.utc).isoformat(timespec='seconds')})", "",
             f"`python benchmarks/collector.py`: telemetrygen, 5-span traces with our attributes, {args.spans_per_second // 5} traces/s "
             f"({args.spans_per_second} spans/s) for {args.duration} s per layout, OTLP/gRPC; each collector's CPU from /proc. "
             f"Tail sampling keeps 10% (the default); what is kept goes to a dropping collector.", "",
             "| layout | process | spans accepted | CPU s | spans per CPU-second | peak RSS MiB |", "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in runs:
        for role in ("single", "agent", "gateway"):
            m = r.get(role)
            if isinstance(m, dict):
                lines.append(f"| {r['layout']} | {role} | {m['spans']:,.0f} | {m['cpu_seconds']} | {m['spans_per_cpu_second'] or 0:,} | {m['peak_rss_mib']} |")
    lines += ["", "Memory held by tail sampling (the last process of each layout, at the most traces held):", "",
              "| layout | traces in flight | RSS MiB then | RSS MiB before the load | MiB per 10k traces in flight |", "| --- | ---: | ---: | ---: | ---: |"]
    for r in runs:
        if "traces_in_flight" in r:
            lines.append(f"| {r['layout']} | {r['traces_in_flight']:,.0f} | {r['rss_mib_at_most_traces']} | {r['rss_mib_idle']} | {r['mib_per_10k_traces']} |")
    for r in runs:
        if "agent_profile_top" in r:
            lines += ["", f"The agent's CPU profile, {r['layout']} (10 s under load, `go tool pprof -top`):", "", "```", *r["agent_profile_top"], "```"]  # type: ignore[misc]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans-per-second", type=int, default=2000, help="telemetrygen paces spans, not traces")
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--layouts", default="single,agent,agent-without-redaction")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="collector-bench-") as tmp:
        runs = [run(layout, args, Path(tmp)) for layout in args.layouts.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "collector.json").write_text(json.dumps(runs, indent=2) + "\n")
    text = report(runs, args)
    (RESULTS / "collector.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
