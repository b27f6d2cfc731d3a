"""``otel-trainerhub``: diagnostics on exported telemetry.

``otel-trainerhub report SPANS.jsonl`` reads the spans a process wrote with
``OTEL_TRAINERHUB_SPAN_FILE`` and prints, per endpoint and task, the request count,
latency percentiles, queries and database time, the slow, N+1 and failed requests with
their trace ids, and the waterfall of the slowest trace.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_trainerhub.attributes import DB_DURATION_MS, DB_QUERY_COUNT, N_PLUS_ONE_COUNT, N_PLUS_ONE_STATEMENT, SLOW

__all__ = ["main"]


@dataclass
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str
    start: float  # seconds since epoch
    end: float
    attributes: dict[str, Any]
    error: bool
    children: list[SpanRecord] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000

    @property
    def is_db(self) -> bool:
        return self.attributes.get("db.system") not in (None, "redis")


def _seconds(timestamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _hex(value: str | None) -> str:
    # to_json writes ids as 0x-prefixed hex; Jaeger and the logs show them bare.
    return value[2:] if value and value.startswith("0x") else (value or "")


def load_spans(lines: Iterable[str]) -> list[SpanRecord]:
    spans = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            spans.append(
                SpanRecord(
                    trace_id=_hex(raw["context"]["trace_id"]),
                    span_id=_hex(raw["context"]["span_id"]),
                    parent_id=_hex(raw.get("parent_id")),
                    name=raw["name"],
                    kind=raw["kind"].rpartition(".")[2],
                    start=_seconds(raw["start_time"]),
                    end=_seconds(raw["end_time"]),
                    attributes=raw.get("attributes") or {},
                    error=(raw.get("status") or {}).get("status_code") == "ERROR",
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"otel-trainerhub report: line {number} is not an exported span: {exc}") from None
    by_id = {s.span_id: s for s in spans}
    for s in spans:
        parent = by_id.get(s.parent_id or "")
        if parent is not None:
            parent.children.append(s)
    for s in spans:
        s.children.sort(key=lambda c: c.start)
    return spans


def local_roots(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """Request, task and command spans: the roots of each process's share of a trace."""
    by_id = {s.span_id: s for s in spans}
    return [
        s
        for s in spans
        if s.kind in ("SERVER", "CONSUMER") or (not s.parent_id or s.parent_id not in by_id) and s.kind == "INTERNAL"
    ]


def _descendants(span: SpanRecord) -> Iterable[SpanRecord]:
    for child in span.children:
        # Work done under another local root (a task under its publish) belongs to that root.
        if child.kind in ("SERVER", "CONSUMER"):
            continue
        yield child
        yield from _descendants(child)


def _queries(root: SpanRecord) -> tuple[int, float]:
    if DB_QUERY_COUNT in root.attributes:
        return int(root.attributes[DB_QUERY_COUNT]), float(root.attributes.get(DB_DURATION_MS, 0.0))
    db = [s for s in _descendants(root) if s.is_db]
    return len(db), sum(s.duration_ms for s in db)


def _percentile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def render(spans: list[SpanRecord], out: Any = None, trace_view_url: str | None = None) -> None:
    """The report; with ``trace_view_url`` (TRACE_VIEW_URL's template) each trace id is a link."""
    try:
        from rich.console import Console
        from rich.table import Table
        from rich.tree import Tree
    except ImportError:
        raise SystemExit("otel-trainerhub report needs rich: pip install 'otel-trainerhub[fixture]'") from None

    console = Console(file=out or sys.stdout, width=140)
    roots = local_roots(spans)
    if not roots:
        console.print("no request, task or command spans found")
        return
    groups: dict[str, list[SpanRecord]] = defaultdict(list)
    for root in roots:
        groups[root.name].append(root)

    table = Table(title=f"{len(roots)} requests, tasks and commands in {len({s.trace_id for s in spans})} traces")
    for column in ("endpoint / task", "count", "p50 ms", "p95 ms", "p99 ms", "mean queries", "mean DB ms", "errors"):
        table.add_column(column, justify="left" if column == "endpoint / task" else "right")
    for label, members in sorted(groups.items()):
        durations = sorted(r.duration_ms for r in members)
        queries = [_queries(r) for r in members]
        table.add_row(
            label,
            str(len(members)),
            f"{_percentile(durations, 50):.1f}",
            f"{_percentile(durations, 95):.1f}",
            f"{_percentile(durations, 99):.1f}",
            f"{statistics.fmean(q for q, _ in queries):.1f}",
            f"{statistics.fmean(t for _, t in queries):.1f}",
            str(sum(r.error for r in members)),
        )
    console.print(table)

    def trace(trace_id: str) -> str:
        return trace_view_url.replace("{trace_id}", trace_id) if trace_view_url else trace_id

    findings = Table(title="findings")
    for column in ("finding", "endpoint / task", "detail", "trace" if trace_view_url else "trace id"):
        findings.add_column(column)
    for root in sorted(roots, key=lambda r: r.start):
        a = root.attributes
        if a.get(SLOW):
            findings.add_row("slow", root.name, f"{root.duration_ms:.0f} ms", trace(root.trace_id))
        if a.get(N_PLUS_ONE_COUNT):
            detail = f"{a[N_PLUS_ONE_COUNT]}x {str(a.get(N_PLUS_ONE_STATEMENT, ''))[:60]}"
            findings.add_row("N+1", root.name, detail, trace(root.trace_id))
        if root.error:
            status = a.get("http.response.status_code", a.get("http.status_code", ""))
            findings.add_row("error", root.name, f"status {status}".strip(), trace(root.trace_id))
    if findings.row_count:
        console.print(findings)

    slowest = max((r for r in roots if r.kind == "SERVER") or roots, key=lambda r: r.duration_ms)
    origin = slowest.start
    tree = Tree(f"slowest trace {trace(slowest.trace_id)}: {slowest.name} {slowest.duration_ms:.1f} ms")

    def add(node: Any, span: SpanRecord) -> None:
        offset = (span.start - origin) * 1000
        detail = ""
        if span.attributes.get("db.statement"):
            detail = " " + str(span.attributes["db.statement"])[:70]
        branch = node.add(f"+{offset:7.1f} ms {span.duration_ms:8.1f} ms  {span.kind:<8} {span.name}{detail}")
        for child in span.children:
            add(branch, child)

    for child in slowest.children:
        add(tree, child)
    console.print(tree)


def main(argv: Sequence[str] | None = None) -> int:
    description = (__doc__ or "").replace("``", "")  # no markup on a terminal
    parser = argparse.ArgumentParser(prog="otel-trainerhub", description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="summarise a spans file written with OTEL_TRAINERHUB_SPAN_FILE")
    report.add_argument(
        "spans_file", metavar="SPANS.jsonl",
        help="the JSON-lines file a process wrote its spans to (OTEL_TRAINERHUB_SPAN_FILE=path; bin/demo writes var/demo/spans.jsonl)",
    )
    args = parser.parse_args(argv)
    from otel_trainerhub.parsing import ConfigError, _trace_url

    try:
        trace_view_url = _trace_url("TRACE_VIEW_URL", os.environ.get("TRACE_VIEW_URL", ""))
    except ConfigError as exc:
        raise SystemExit(f"otel-trainerhub report: {exc}") from None
    try:
        with open(args.spans_file, encoding="utf-8") as handle:
            spans = load_spans(handle)
    except OSError as exc:
        raise SystemExit(f"otel-trainerhub report: cannot read {args.spans_file}: {exc.strerror}") from None
    render(spans, trace_view_url=trace_view_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
