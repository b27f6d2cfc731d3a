"""The report as one self-contained HTML page: endpoints, commands apart, grouped findings,
and for each finding the waterfall of its worst trace (bars on the root's time axis)."""

from __future__ import annotations

from html import escape

from otel_trainerhub.report.findings import Finding, endpoints, findings
from otel_trainerhub.report.spans import SpanRecord, is_command, local_roots, queries, waterfall

__all__ = ["render_html"]

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1d1d1f; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.trace { white-space: nowrap; }
code { white-space: pre-wrap; word-break: break-word; }
.kind-error { color: #b00020; } .kind-N\\+1 { color: #8a4b00; } .kind-slow { color: #004f9e; }
.waterfall { margin: 0.5em 0 2.5em; }
.row { display: flex; align-items: center; height: 22px; border-bottom: 1px solid #f0f0f0; }
.label { width: 45%; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; font-family: monospace; font-size: 12px; }
.axis { position: relative; width: 45%; height: 14px; background: #fafafa; }
.bar { position: absolute; height: 14px; min-width: 2px; background: #4a90d9; }
.bar.CLIENT { background: #e39b2d; } .bar.SERVER { background: #3a7d44; } .bar.error { background: #b00020; }
.ms { width: 10%; text-align: right; font-variant-numeric: tabular-nums; font-size: 12px; }
"""


def _link(trace_id: str, trace_view_url: str | None) -> str:
    if not trace_view_url:
        return f"<code>{escape(trace_id)}</code>"
    return f'<a href="{escape(trace_view_url.replace("{trace_id}", trace_id))}"><code>{escape(trace_id)}</code></a>'


def _waterfall(root: SpanRecord) -> str:
    total = max(root.duration_ms, 0.001)
    rows = []
    for row in waterfall(root):
        left = min(100.0, max(0.0, row.offset_ms / total * 100))
        width = min(100.0 - left, row.duration_ms / total * 100)
        classes = f"bar {row.span.kind}" + (" error" if row.span.error else "")
        rows.append(
            f'<div class="row"><span class="label" style="padding-left:{row.depth * 14}px" title="{escape(row.span.label)}">'
            f"{escape(row.span.kind)} {escape(row.span.label)}</span>"
            f'<span class="axis"><span class="{classes}" style="left:{left:.2f}%;width:{width:.2f}%"></span></span>'
            f'<span class="ms">{row.duration_ms:.1f} ms</span></div>'
        )
    return '<div class="waterfall">' + "".join(rows) + "</div>"


def _finding(number: int, f: Finding, trace_view_url: str | None) -> str:
    source = f"<br>at <code>{escape(f.source)}</code>" if f.source else ""
    if f.innermost and f.innermost != f.source:
        source += f" (innermost <code>{escape(f.innermost)}</code>)"
    return (
        f'<tr class="finding"><td class="kind-{escape(f.kind)}">{escape(f.kind)}</td><td>{escape(f.where)}</td>'
        f'<td class="n">{f.count}</td><td><code>{escape(f.what)}</code>{source}</td>'
        f'<td class="trace"><a href="#worst-{number}">waterfall</a> · {_link(f.worst.trace_id, trace_view_url)}</td></tr>'
    )


def render_html(spans: list[SpanRecord], trace_view_url: str | None = None, include_commands: bool = False) -> str:
    roots = local_roots(spans)
    served = [r for r in roots if not is_command(r)]
    commands = sorted((r for r in roots if is_command(r)), key=lambda r: r.start)
    found = findings(roots, include_commands=include_commands)
    parts = ["<!doctype html><html lang=en><head><meta charset=utf-8><title>otel-trainerhub report</title>",
             f"<style>{_STYLE}</style></head><body><h1>otel-trainerhub report</h1>"]
    if not roots:
        parts.append("<p>no request, task or command spans found</p>")
    if served:
        parts.append(f"<h2>{len(served)} requests and tasks in {len({r.trace_id for r in served})} traces</h2><table id=endpoints>"
                     "<tr><th>endpoint / task</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
                     "<th>mean queries</th><th>mean DB ms</th><th>errors</th></tr>")
        for e in endpoints(served):
            numbers = (e.count, f"{e.p50_ms:.1f}", f"{e.p95_ms:.1f}", f"{e.p99_ms:.1f}", f"{e.mean_queries:.1f}", f"{e.mean_db_ms:.1f}", e.errors)
            parts.append(f"<tr><td>{escape(e.name)}</td>" + "".join(f'<td class="n">{n}</td>' for n in numbers) + "</tr>")
        parts.append("</table>")
    if commands:
        parts.append("<h2>management commands</h2><p>Their repeated statements are not the application's findings.</p>"
                     "<table id=commands><tr><th>command</th><th>ms</th><th>queries</th></tr>")
        parts += [f'<tr><td>{escape(c.name)}</td><td class="n">{c.duration_ms:.0f}</td><td class="n">{queries(c)[0]}</td></tr>' for c in commands]
        parts.append("</table>")
    if found:
        parts.append(f"<h2>findings ({sum(f.count for f in found)} in {len(found)} groups)</h2><table id=findings>"
                     "<tr><th>finding</th><th>where</th><th>count</th><th>what</th><th>worst trace</th></tr>")
        parts += [_finding(i, f, trace_view_url) for i, f in enumerate(found)]
        parts.append("</table><h2>worst trace of each finding</h2>")
        for i, f in enumerate(found):
            parts.append(f'<h3 id="worst-{i}">{escape(f.kind)} · {escape(f.where)} · {f.worst.duration_ms:.1f} ms · '
                         f"{_link(f.worst.trace_id, trace_view_url)}</h3>{_waterfall(f.worst)}")
    parts.append("</body></html>")
    return "\n".join(parts)
