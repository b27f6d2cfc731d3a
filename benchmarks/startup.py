"""What the package adds to start-up, which every management command, cron job and worker boot pays.

    .venv/bin/python benchmarks/startup.py                  # about 2 minutes; results/startup.{json,md}
    .venv/bin/python benchmarks/startup.py --runs 15 --no-instructions

``manage.py check`` on the fixture, once per variant in turn (A B A B ...), ``--runs`` times:
``baseline`` (``TRAINERHUB_OTEL=off``) and ``otel_trainerhub`` (the environment of
``benchmarks/load.py``: OTLP to the collector that drops, every instrumentation on). Each
process is reaped with ``os.wait4``, which gives its own CPU time and peak RSS; the
medians are reported with the wall time. Timings on this VM move by tens of milliseconds
between runs, so each variant is also counted once in instructions with callgrind (every
thread, the whole process, the same count for the same code). Then ``python -X importtime``
lists the modules only our variant imports, by their own import time, for where to look next
(one run, so a module that happens to trigger a garbage collection reads high; the
``otel_trainerhub.auto`` line is everything ``configure()`` does that is not an import).

The fixture lists the package's health checks in ``INSTALLED_APPS`` and its log formatter in
``LOGGING`` whatever ``TRAINERHUB_OTEL`` says, so the baseline imports those too: the figure
is what import-time set-up (tracing, metrics, logs export, instrumentation) adds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import load
import request_instructions

VARIANTS = ("baseline", "otel_trainerhub")
COMMAND = ("manage.py", "check")


def _env(variant: str) -> dict[str, str]:
    # One hash seed for every process: otherwise set and dict orders, and with them when the
    # garbage collector runs, move the instruction count by tens of millions.
    return {**load.variant_env(variant), "PYTHONHASHSEED": "0"}


def _run_once(variant: str) -> dict[str, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one ``manage.py check``."""
    started = time.perf_counter()
    proc = subprocess.Popen([str(load.BIN / "python"), *COMMAND], cwd=load.FIXTURE, env=_env(variant),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant}: {' '.join(COMMAND)} exited {proc.returncode}\n{stderr.decode()[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024}


def _instructions(variant: str) -> int:
    with tempfile.TemporaryDirectory() as out:
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.%p", str(load.BIN / "python"), *COMMAND],
            cwd=load.FIXTURE, env=_env(variant), capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{variant} under callgrind: exit {result.returncode}\n{result.stderr[-3000:]}")
        total = 0
        for dump in Path(out).glob("callgrind.*"):
            total += sum(int(line.split()[1]) for line in dump.read_text().splitlines() if line.startswith("summary:"))
        return total


def _import_times(variant: str) -> dict[str, int]:
    """Each module's own import time in microseconds (``-X importtime``)."""
    result = subprocess.run([str(load.BIN / "python"), "-X", "importtime", *COMMAND], cwd=load.FIXTURE,
                            env=_env(variant), capture_output=True, text=True, check=True)
    times: dict[str, int] = {}
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            own, _cumulative, name = line[len("import time:"):].split("|", 2)
            if own.strip().isdigit():
                times[name.strip()] = int(own)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-instructions", action="store_true", help="skip the callgrind count")
    args = parser.parse_args()
    request_instructions.compile_sources()
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    with load.services():
        for variant in VARIANTS:  # warm the page cache, not counted
            _run_once(variant)
        for _ in range(args.runs):
            for variant in VARIANTS:
                samples[variant].append(_run_once(variant))
        instructions = {} if args.no_instructions else {v: _instructions(v) for v in VARIANTS}
        imports = {v: _import_times(v) for v in VARIANTS}
    medians = {v: {k: statistics.median(s[k] for s in samples[v]) for k in samples[v][0]} for v in VARIANTS}
    only_ours = sorted(((us, name) for name, us in imports["otel_trainerhub"].items() if name not in imports["baseline"]), reverse=True)
    write_report(args, medians, samples, instructions, only_ours)
    return 0


def write_report(args: argparse.Namespace, medians: dict[str, dict[str, float]], samples: dict[str, list[dict[str, float]]],
                 instructions: dict[str, int], only_ours: list[tuple[int, str]]) -> None:
    base, ours = medians["baseline"], medians["otel_trainerhub"]
    meta: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": load.cpu_name(),
        "command": f"python benchmarks/startup.py --runs {args.runs}",
        "measured": " ".join(COMMAND),
    }
    data = {"meta": meta, "medians": medians, "samples": samples, "instructions": instructions,
            "imported_only_by_ours": [{"module": n, "own_us": us} for us, n in only_ours]}
    out = load.ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "startup.json").write_text(json.dumps(data, indent=2) + "\n")
    lines = [
        f"# Start-up: `{meta['measured']}` on the fixture ({meta['date']}, {meta['cpu']})",
        "",
        f"`{meta['command']}`: medians of {args.runs} interleaved runs per variant; peak RSS and CPU from `os.wait4`. "
        "The baseline (`TRAINERHUB_OTEL=off`) still has the package's health checks and log formatter, which the "
        "fixture's settings name; what is added is the import-time set-up. Timings here move by tens of "
        "milliseconds between runs; the instruction count is the same for the same code.",
        "",
        "| | baseline | otel_trainerhub | added | goal |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| wall time | {base['wall_s'] * 1000:.0f} ms | {ours['wall_s'] * 1000:.0f} ms | {(ours['wall_s'] - base['wall_s']) * 1000:+.0f} ms | <= +80 ms |",
        f"| CPU time | {base['cpu_s'] * 1000:.0f} ms | {ours['cpu_s'] * 1000:.0f} ms | {(ours['cpu_s'] - base['cpu_s']) * 1000:+.0f} ms | |",
        f"| peak RSS | {base['peak_rss_mib']:.1f} MiB | {ours['peak_rss_mib']:.1f} MiB | {ours['peak_rss_mib'] - base['peak_rss_mib']:+.1f} MiB | <= +10 MiB |",
    ]
    if instructions:
        b, o = instructions["baseline"], instructions["otel_trainerhub"]
        lines.append(f"| instructions (callgrind, one run) | {b:,} | {o:,} | {o - b:+,} ({o / b:.2f}x) | |")
    lines += [
        "",
        f"Modules imported only with the package: {len(only_ours)}, {sum(us for us, _ in only_ours) / 1000:.1f} ms of own import time "
        "(`-X importtime`, one run; the largest):",
        "",
        "| module | own ms |",
        "| --- | ---: |",
        *(f"| `{name}` | {us / 1000:.1f} |" for us, name in only_ours[:15]),
    ]
    (out / "startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
