"""CPU instructions per request, counted: the fixture's WSGI app called in-process, per variant.

    .venv/bin/python benchmarks/request_instructions.py        # about 8 minutes; results/request-instructions.{json,md}

Under load, this VM's timings (and even its CPU seconds) move by tens of percent between
runs, which hides differences of a few percent between variants. Here each variant's
process (the same environment as in ``benchmarks/load.py``: ``baseline``, ``otel_trainerhub``,
``stock`` under ``opentelemetry-instrument``) calls the WSGI application directly, with no
server, and valgrind's callgrind counts the instructions of every thread, export included.
Only the measured section is counted: the process marks its start and end with a call
callgrind dumps its counts at (``os.sched_yield``, which nothing else here calls), so start-up,
imports and warm-up are left out of the figure instead of subtracted as another process's.
Inside the section: ``--requests`` requests, then a flush of every provider the variant has
(spans, log records, metrics), so each request's export is counted on the thread that did it
and in every variant alike. Garbage collection is left on, with start-up's objects frozen
(``gc.freeze()``) so a full collection of them does not land in one run and not the other,
and every process gets the same ``PYTHONHASHSEED``. What remains varies by a few percent
between runs (the database and cache state), so compare variants within one run.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import load

PATHS = {"bookings_list": "/api/bookings/", "trivial": "/api/ping/"}
MARKER = "sched_yield"  # callgrind dumps its counts before each call; the section is dump 2 of 3


def _call(application: Any, path: str) -> None:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "HTTP_AUTHORIZATION": "Bearer client-1", "HTTP_USER_AGENT": "request-instructions/1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000", "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
    }
    status: list[str] = []
    body = b"".join(application(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("200"):
        raise RuntimeError(f"{path}: {status[0]} {body[:300]!r}")


def _flush() -> None:
    """Export what every provider of this variant holds (none in ``baseline``)."""
    import otel_trainerhub
    from opentelemetry import _logs, metrics, trace

    if otel_trainerhub.is_configured():
        # Under callgrind an export takes long enough for force_flush to judge the collector
        # hung (an export unanswered after 0.5 s) and return at once: ask until it is done.
        deadline = time.monotonic() + 600
        while not otel_trainerhub.force_flush(60):
            if time.monotonic() > deadline:
                raise RuntimeError("otel_trainerhub.force_flush did not deliver everything in 10 minutes")
            time.sleep(0.2)
        return
    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider(), metrics.get_meter_provider()):
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush()


def _child(path: str, requests: int) -> None:
    """Inside the measured process: warm up, then the counted section (``requests`` requests and a flush)."""
    sys.path.insert(0, str(load.FIXTURE))
    from config.wsgi import application  # the fixture's first import instruments (or not)

    for _ in range(20):
        _call(application, path)
    _flush()
    # Start-up's objects out of the collector's way: otherwise whether a full collection of
    # them falls inside the measured requests or not moves the count by up to 40% (trivial).
    gc.collect()
    gc.freeze()
    os.sched_yield()  # the section starts (MARKER)
    for _ in range(requests):
        _call(application, path)
    _flush()
    os.sched_yield()  # and ends


def count(variant: str, endpoint: str, requests: int, extra_env: dict[str, str] | None = None) -> int:
    """Instructions of the counted section of one process: ``variant``'s environment (plus
    ``extra_env``), ``requests`` to ``endpoint``."""
    env = load.variant_env(variant)
    env.update(OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_BLRP_SCHEDULE_DELAY="600000", OTEL_METRIC_EXPORT_INTERVAL="600000",
               PYTHONHASHSEED="0", **(extra_env or {}))
    argv = [str(load.BIN / "python"), __file__, "--child", PATHS[endpoint], str(requests)]
    if variant == "stock":
        argv = [str(load.BIN / "opentelemetry-instrument"), *argv]
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", "--trace-children=yes", f"--dump-before={MARKER}",
             f"--callgrind-out-file={out}/callgrind.%p", *argv],
            cwd=load.FIXTURE, env=env, capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{variant} {endpoint}: exit {result.returncode}\n{result.stderr[-3000:]}")
        dumps = sorted(Path(out).glob("callgrind.*.*"))  # the whole-run files have no part suffix
        if [d.suffix for d in dumps] != [".1", ".2"]:
            raise RuntimeError(f"{variant} {endpoint}: expected the marker twice, got dumps {[d.name for d in dumps]}")
        summary = [line for line in dumps[1].read_text().splitlines() if line.startswith("summary:")]
    return int(summary[0].split()[1])


def compile_sources() -> None:
    """Byte-compile this tree first: otherwise whichever run imports a module first also
    compiles it, and a fresh checkout's counts move by hundreds of thousands per request."""
    subprocess.run([str(load.BIN / "python"), "-m", "compileall", "-q", str(load.ROOT / "otel_trainerhub"), str(load.FIXTURE)], check=True)


def per_request(runs: Sequence[tuple[Hashable, str, str, dict[str, str]]], requests: int) -> dict[Hashable, float]:
    """Instructions per request of each run ``(key, variant, endpoint, extra_env)``, every
    process counted in parallel."""
    load.VAR.mkdir(parents=True, exist_ok=True)
    compile_sources()
    with load.services(), ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counted = list(pool.map(lambda run: count(run[1], run[2], requests, run[3]), runs))
    return {run[0]: c / requests for run, c in zip(runs, counted)}


def results_meta(script: str, requests: int) -> dict[str, Any]:
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": load.cpu_name(),
            "command": f"python benchmarks/{script} " + " ".join(sys.argv[1:]), "requests": requests}


def write_results(stem: str, meta: dict[str, Any], rows: list[dict[str, Any]], lines: list[str]) -> None:
    """``results/<stem>.json`` (meta and rows) and ``results/<stem>.md`` (``lines``), also printed."""
    load.RESULTS.mkdir(exist_ok=True)
    (load.RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    (load.RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--endpoints", default="bookings_list,trivial")
    parser.add_argument("--variants", default="baseline,otel_trainerhub,stock")
    args = parser.parse_args()
    endpoints, variants = args.endpoints.split(","), args.variants.split(",")
    if set(endpoints) - set(PATHS) or set(variants) - {"baseline", "otel_trainerhub", "stock"} or "baseline" not in variants:
        parser.error(f"--endpoints among {', '.join(PATHS)}; --variants among baseline, otel_trainerhub, stock, baseline included")
    per = per_request([((v, e), v, e, {}) for e in endpoints for v in variants], args.requests)
    rows = []
    for endpoint in endpoints:
        base = per[("baseline", endpoint)]
        for v in variants:
            mine = per[(v, endpoint)]
            rows.append({"endpoint": endpoint, "variant": v, "instructions_per_request": round(mine),
                         "ratio": mine / base, "added": round(mine - base)})
    meta = results_meta("request_instructions.py", args.requests)
    lines = [f"# Instructions per request ({meta['date']}, {meta['cpu']})", "",
             f"`{meta['command'].strip()}`: callgrind, every thread, the WSGI app called in-process "
             f"({args.requests} requests and the flush of their telemetry counted, after 20 of warm-up); each figure also against `baseline`.", "",
             "| endpoint | variant | instructions / request | × baseline | added |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {r['endpoint']} | {r['variant']} | {r['instructions_per_request']:,} | {r['ratio']:.3f} | {r['added']:+,} |" for r in rows]
    write_results("request-instructions", meta, rows, lines)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(main())
