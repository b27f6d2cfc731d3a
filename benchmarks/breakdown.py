"""What each part of the telemetry costs per request: instructions, each part switched off in turn.

    .venv/bin/python benchmarks/breakdown.py                       # about 20 minutes; results/breakdown.{json,md}
    .venv/bin/python benchmarks/breakdown.py --endpoints trivial --parts django,log_lines

The same measurement as ``benchmarks/request_instructions.py`` (callgrind over every
thread of a process that calls the fixture's WSGI app in-process; only ``--requests``
requests and their flush counted), for ``otel_trainerhub`` with everything on and then with one
part switched off by its own setting, all in one run. A part's cost is what switching it
off saves. Parts overlap (switching off Django's instrumentation also removes the request
log line and the server span's export), so the lines do not add up to the total.
"""

from __future__ import annotations

import argparse
import sys

import load
import request_instructions

#: part -> (what it is, the settings that switch it off)
PARTS: dict[str, tuple[str, dict[str, str]]] = {
    "django": ("server span, route, our middleware and the request log line (Django instrumentation off)",
               {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "django"}),
    # http.server.* metrics pinned off: with no span export they would switch on (spanmetrics
    # could no longer count requests), and measure something else.
    "span_export": ("span export: batching, OTLP encoding, HTTP (OTEL_TRACES_EXPORTER=none)",
                    {"OTEL_TRACES_EXPORTER": "none", "OTEL_TRAINERHUB_HTTP_SERVER_METRICS": "off"}),
    "log_export": ("OTLP log records: handler, batching, encoding, HTTP (OTEL_LOGS_EXPORTER=none)", {"OTEL_LOGS_EXPORTER": "none"}),
    "metrics": ("metric records and their export (OTEL_METRICS_EXPORTER=none)", {"OTEL_METRICS_EXPORTER": "none"}),
    "attribution": ("attribution, N+1 and slow detection (PERFORMANCE_MONITORING_ENABLED=false)",
                    {"PERFORMANCE_MONITORING_ENABLED": "false"}),
    "log_lines": ("INFO lines, the request line among them: formatting, stdout, OTLP (LOG_LEVEL=WARNING)", {"LOG_LEVEL": "WARNING"}),
    "sql": ("SQL spans (psycopg instrumentation off)", {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "psycopg,psycopg2,sqlite3"}),
    "redis": ("Redis spans (redis instrumentation off)", {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "redis"}),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--endpoints", default="trivial,bookings_list")
    parser.add_argument("--parts", default=",".join(PARTS))
    args = parser.parse_args()
    endpoints, parts = args.endpoints.split(","), args.parts.split(",")
    if set(endpoints) - set(request_instructions.PATHS) or set(parts) - set(PARTS):
        parser.error(f"--endpoints among {', '.join(request_instructions.PATHS)}; --parts among {', '.join(PARTS)}")
    runs: list[tuple[str, str, dict[str, str]]] = [("baseline", "baseline", {}), ("all on", "otel_trainerhub", {})]
    runs += [(f"without {p}", "otel_trainerhub", PARTS[p][1]) for p in parts]
    per = request_instructions.per_request(
        [((label, endpoint), variant, endpoint, extra) for endpoint in endpoints for label, variant, extra in runs], args.requests
    )
    rows = []
    for endpoint in endpoints:
        added = per[("all on", endpoint)] - per[("baseline", endpoint)]
        rows.append({"endpoint": endpoint, "part": "baseline", "per_request": round(per[("baseline", endpoint)]), "cost": None})
        rows.append({"endpoint": endpoint, "part": "all on", "per_request": round(per[("all on", endpoint)]), "cost": round(added)})
        for p in parts:
            without = per[(f"without {p}", endpoint)]
            cost = per[("all on", endpoint)] - without
            rows.append({"endpoint": endpoint, "part": p, "per_request": round(without), "cost": round(cost),
                         "share": cost / added if added else 0.0})
    meta = request_instructions.results_meta("breakdown.py", args.requests)
    lines = [f"# What each part costs per request ({meta['date']}, {meta['cpu']})", "",
             f"`{meta['command'].strip()}`: callgrind instructions per request ({args.requests} counted after 20 of warm-up), "
             "otel_trainerhub with everything on, then with one part switched off; a part's cost is what switching it off saves. "
             "Parts overlap, so they do not add up to the total.", "",
             "| endpoint | part | what is switched off | instructions / request | part's cost | share of what we add |",
             "| --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        what = PARTS[r["part"]][0] if r["part"] in PARTS else ("uninstrumented" if r["part"] == "baseline" else "nothing: everything on")
        saved = "" if r["cost"] is None else f"{r['cost']:+,}"
        share = f"{r['share']:.0%}" if "share" in r else ""
        lines.append(f"| {r['endpoint']} | {r['part']} | {what} | {r['per_request']:,} | {saved} | {share} |")
    request_instructions.write_results("breakdown", meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
