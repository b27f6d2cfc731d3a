"""``otel-trainerhub``: diagnostics on exported telemetry.

``otel-trainerhub report SPANS.jsonl`` reads the spans a process wrote with
``OTEL_TRAINERHUB_SPAN_FILE`` and prints, per endpoint and task, the request count,
latency percentiles, queries and database time; the slow, N+1 and failed requests grouped
by route and kind with counts and the worst trace of each; management commands apart; and
the waterfall of the slowest request. ``--html FILE`` writes the same as one HTML page, with
the waterfall of each finding's worst trace.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    description = (__doc__ or "").replace("``", "")  # no markup on a terminal
    parser = argparse.ArgumentParser(prog="otel-trainerhub", description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="summarise a spans file written with OTEL_TRAINERHUB_SPAN_FILE")
    report.add_argument(
        "spans_file", metavar="SPANS.jsonl",
        help="the JSON-lines file a process wrote its spans to (OTEL_TRAINERHUB_SPAN_FILE=path; bin/demo writes var/demo/spans.jsonl)",
    )
    report.add_argument("--html", metavar="FILE", help="also write the report as one HTML page, with each finding's worst trace drawn")
    report.add_argument("--include-commands", action="store_true",
                        help="count management commands' repeated statements (a migration's inserts) as findings too")
    args = parser.parse_args(argv)
    from otel_trainerhub.parsing import ConfigError, _trace_url
    from otel_trainerhub.report.spans import load_spans
    from otel_trainerhub.report.text import render

    try:
        trace_view_url = _trace_url("TRACE_VIEW_URL", os.environ.get("TRACE_VIEW_URL", ""))
    except ConfigError as exc:
        raise SystemExit(f"otel-trainerhub report: {exc}") from None
    try:
        with open(args.spans_file, encoding="utf-8") as handle:
            spans = load_spans(handle)
    except OSError as exc:
        raise SystemExit(f"otel-trainerhub report: cannot read {args.spans_file}: {exc.strerror}") from None
    render(spans, trace_view_url=trace_view_url, include_commands=args.include_commands)
    if args.html:
        from otel_trainerhub.report.html import render_html

        try:
            with open(args.html, "w", encoding="utf-8") as out:
                out.write(render_html(spans, trace_view_url=trace_view_url, include_commands=args.include_commands))
        except OSError as exc:
            raise SystemExit(f"otel-trainerhub report: cannot write {args.html}: {exc.strerror}") from None
        print(f"HTML report: {os.path.abspath(args.html)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
