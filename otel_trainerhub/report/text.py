"""The report for a terminal (rich), as wide as the terminal."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import Any

from otel_trainerhub.attributes import N_PLUS_ONE_COUNT, N_PLUS_ONE_STATEMENT
from otel_trainerhub.report.findings import endpoints, findings
from otel_trainerhub.report.spans import SpanRecord, is_command, local_roots, queries, waterfall

__all__ = ["render"]


def render(spans: list[SpanRecord], out: Any = None, trace_view_url: str | None = None, include_commands: bool = False,
           width: int | None = None) -> None:
    """Endpoints, management commands apart, grouped findings, the slowest request's waterfall;
    with ``trace_view_url`` (TRACE_VIEW_URL's template) each trace id is a link."""
    try:
        from rich.console import Console
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text
        from rich.tree import Tree
    except ImportError:
        raise SystemExit("otel-trainerhub report needs rich: pip install 'otel-trainerhub[fixture]'") from None

    console = Console(file=out or sys.stdout, width=width or shutil.get_terminal_size((120, 24)).columns)
    roots = local_roots(spans)
    if not roots:
        console.print("no request, task or command spans found")
        return
    served = [r for r in roots if not is_command(r)]
    commands = [r for r in roots if is_command(r)]

    def trace(trace_id: str) -> str:
        return trace_view_url.replace("{trace_id}", trace_id) if trace_view_url else trace_id

    if served:
        table = Table(title=f"{len(served)} requests and tasks in {len({r.trace_id for r in served})} traces")
        for column in ("endpoint / task", "count", "p50 ms", "p95 ms", "p99 ms", "mean queries", "mean DB ms", "errors"):
            table.add_column(column, justify="left" if column == "endpoint / task" else "right")
        for e in endpoints(served):
            table.add_row(e.name, str(e.count), f"{e.p50_ms:.1f}", f"{e.p95_ms:.1f}", f"{e.p99_ms:.1f}",
                          f"{e.mean_queries:.1f}", f"{e.mean_db_ms:.1f}", str(e.errors))
        console.print(table)
    if commands:
        table = Table(title="management commands (their repeated statements are not the application's findings)")
        for column in ("command", "ms", "queries", "most repeated statement"):
            table.add_column(column, overflow="fold", justify="right" if column in ("ms", "queries") else "left")
        for c in sorted(commands, key=lambda r: r.start):
            repeated = c.attributes.get(N_PLUS_ONE_COUNT)
            statement = f"{repeated}x {c.attributes.get(N_PLUS_ONE_STATEMENT, '')}" if repeated else ""
            table.add_row(c.name, f"{c.duration_ms:.0f}", str(queries(c)[0]), statement)
        console.print(table)

    found = findings(roots, include_commands=include_commands)
    if found:
        # One block per group rather than a table: a whole statement wraps at any width.
        console.print(Text(f"findings: {sum(f.count for f in found)} in {len(found)} groups", style="bold"))
        for f in found:
            plural = "s" if f.count != 1 else ""
            console.print(Text(f"{f.kind} · {f.where} · {f.count} {'run' if f.worst.kind == 'CONSUMER' else 'request'}{plural}",
                               style={"error": "red", "N+1": "yellow", "slow": "cyan"}[f.kind]))
            lines = [f.what] + ([f"at {f.source}"] if f.source else [])
            if f.innermost and f.innermost != f.source:
                lines.append(f"innermost frame {f.innermost}")
            lines.append(f"worst trace {trace(f.worst.trace_id)} ({f.worst.duration_ms:.1f} ms)")
            for line in lines:
                console.print(Padding(Text(line, overflow="fold"), (0, 0, 0, 4), expand=False))
        console.print()

    slowest = max([r for r in served if r.kind == "SERVER"] or served or roots, key=lambda r: r.duration_ms)
    console.print(_tree(slowest, f"slowest request: trace {trace(slowest.trace_id)}", Tree, Text, console.width))


def _tree(root: SpanRecord, title: str, tree_class: Callable[..., Any], text_class: Callable[..., Any], width: int) -> Any:
    """The waterfall of ``root``'s trace, the root's own row first, one row per span."""
    tree = tree_class(title)
    nodes: list[Any] = [tree]
    for row in waterfall(root):
        timing = f"+{row.offset_ms:7.1f} ms {row.duration_ms:8.1f} ms  {row.span.kind:<8} "
        label = text_class(timing + row.span.label, no_wrap=True, overflow="ellipsis")
        label.truncate(max(20, width - 4 * (row.depth + 1)), overflow="ellipsis")
        del nodes[row.depth + 1:]
        nodes.append(nodes[row.depth].add(label))
    return tree

