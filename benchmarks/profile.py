"""Where a request's time goes under load, per variant: py-spy on the gunicorn worker.

    .venv/bin/python benchmarks/profile.py                      # bookings_list, otel_trainerhub + stock + baseline
    .venv/bin/python benchmarks/profile.py --endpoint trivial --variants otel_trainerhub,stock

The same set-up as ``benchmarks/load.py`` (its helpers, its collector that drops, its
sandbox); each variant runs alone under wrk while py-spy samples its worker
(``--nonblocking``, every thread, only samples where the thread is on the CPU). Samples are
put in buckets by the innermost frame that is not the standard library: the application
(Django, psycopg, redis, the fixture), each telemetry package (OpenTelemetry SDK,
instrumentations, exporters, structlog, otel_trainerhub), and the export threads. Written
to ``benchmarks/results/profile-<endpoint>.md`` with milliseconds per request, so variants
compare directly; the raw stacks stay in ``var/bench/profile/`` (py-spy's collapsed format,
for a flame graph).
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import load

OURS = ("opentelemetry", "otel_trainerhub", "structlog", "wrapt", "google/protobuf", "sentry_sdk", "orjson")
FRAME = re.compile(r"\((?P<path>.*):\d+\)$")


def bucket(frames: list[str]) -> str:
    """The bucket of one sample: innermost frame outside the standard library decides."""
    thread = frames[0]
    if "MainThread" not in thread:
        return "thread: " + thread.split(": ", 1)[-1].split(" ")[0]
    for frame in reversed(frames[1:]):
        match = FRAME.search(frame)
        path = match.group("path") if match else ""
        if "site-packages/" not in path and "/otel_trainerhub/" not in path and "/app_fixture/" not in path:
            continue
        for package in OURS:
            if f"/{package}/" in path:
                inner = re.search(r"site-packages/(opentelemetry/(?:sdk/)?[\w]+/?[\w]*)", path)
                mine = re.search(r"(otel_trainerhub/[\w]+)", path)
                return "telemetry: " + (mine.group(1) if mine else inner.group(1) if inner else package)
        return "application"
    return "interpreter and standard library only"


def summarise(raw: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        stack, n = line.rsplit(" ", 1)
        counts[bucket(stack.split(";"))] += int(n)
    return counts


def worker_pid(master: int) -> int:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    return int(proc.name)
            except OSError:
                continue
    raise RuntimeError(f"gunicorn master {master} has no worker")


def profile(variant: str, endpoint: str, seconds: float, rate: int, out: Path) -> dict[str, float]:
    app = load.start_app(variant)
    try:
        load.wrk(endpoint, 3, 4)  # warm-up
        spy = subprocess.Popen(
            [str(load.BIN / "py-spy"), "record", "--pid", str(worker_pid(app.popen.pid)), "--rate", str(rate), "--format", "raw",
             "--nonblocking", "--threads", "--full-filenames", "--duration", str(int(seconds) + 1), "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(0.5)
        cpu_before = load.cpu_seconds(app.popen.pid)
        result = load.wrk(endpoint, seconds, 4)
        cpu = load.cpu_seconds(app.popen.pid) - cpu_before
        _, err = spy.communicate(timeout=60)
        if spy.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy failed ({spy.returncode}): {err[-2000:]}")
    finally:
        app.stop()
    counts = summarise(out)
    ms_per_sample = 1000 / rate
    per_request = {k: v * ms_per_sample / result["requests"] for k, v in counts.items()}
    per_request["(cpu ms per request, /proc)"] = 1000 * cpu / result["requests"]
    per_request["(requests per second)"] = result["rps"]
    return per_request


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default="bookings_list", choices=sorted(load.ENDPOINTS))
    parser.add_argument("--variants", default="otel_trainerhub,stock,baseline")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    args = parser.parse_args()
    if not (load.BIN / "py-spy").exists():
        parser.error("py-spy is not installed: it comes with the dev extras (bash .ci/setup.sh)")
    variants = args.variants.split(",")
    if set(variants) - set(load.VARIANTS):
        parser.error(f"--variants: choose among {', '.join(load.VARIANTS)}")
    raw_dir = load.VAR / "profile"
    raw_dir.mkdir(parents=True, exist_ok=True)
    with load.services():
        results = {}
        for variant in variants:
            results[variant] = profile(variant, args.endpoint, args.seconds, args.rate, raw_dir / f"{variant}-{args.endpoint}.txt")
            print(f"{variant}: {results[variant]['(cpu ms per request, /proc)']:.2f} ms CPU per request", flush=True)
    rows = sorted({k for r in results.values() for k in r if not k.startswith("(")}, key=lambda k: -max(r.get(k, 0) for r in results.values()))
    lines = [
        f"# Where the time goes: {args.endpoint} ({datetime.now(timezone.utc).isoformat(timespec='seconds')}, {load.cpu_name()})",
        "",
        f"`python benchmarks/profile.py {' '.join(sys.argv[1:])}`: py-spy at {args.rate} Hz on the gunicorn worker under wrk -c4 for "
        f"{args.seconds:g} s per variant (one variant at a time), on-CPU samples in milliseconds per request, bucketed by the innermost "
        "frame outside the standard library. Sampling is wall-clock while on the CPU: a thread waiting for the GIL is counted where it waits.",
        "",
        "| bucket | " + " | ".join(variants) + " |",
        "| --- | " + " | ".join("---:" for _ in variants) + " |",
    ]
    for key in ("(requests per second)", "(cpu ms per request, /proc)"):
        lines.append(f"| {key} | " + " | ".join(f"{results[v][key]:.2f}" for v in variants) + " |")
    for key in rows:
        lines.append(f"| {key} | " + " | ".join(f"{results[v].get(key, 0):.3f}" for v in variants) + " |")
    out = load.RESULTS / f"profile-{args.endpoint}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
