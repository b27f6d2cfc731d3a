"""Endpoints and findings: what the report says, whatever it is rendered as."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from otel_trainerhub.attributes import N_PLUS_ONE_COUNT, N_PLUS_ONE_INNERMOST, N_PLUS_ONE_SOURCE, N_PLUS_ONE_STATEMENT, SLOW
from otel_trainerhub.report.spans import SpanRecord, exception_of, is_command, queries

__all__ = ["Endpoint", "Finding", "endpoints", "findings"]

_ORDER = {"error": 0, "N+1": 1, "slow": 2}


@dataclass
class Endpoint:
    name: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_queries: float
    mean_db_ms: float
    errors: int


@dataclass
class Finding:
    kind: str  # "error", "N+1" or "slow"
    where: str  # the root's name: a route, a task, a command
    what: str  # the exception, the repeated statement (normalised, whole), or how slow
    count: int  # roots with this finding
    worst: SpanRecord  # the one to look at first: the slowest, or the most repeats
    source: str = ""  # N+1: where the repetition happens (the loop), and the innermost frame
    innermost: str = ""


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def endpoints(roots: Sequence[SpanRecord]) -> list[Endpoint]:
    groups: dict[str, list[SpanRecord]] = defaultdict(list)
    for root in roots:
        groups[root.name].append(root)
    rows = []
    for name, members in sorted(groups.items()):
        durations = sorted(r.duration_ms for r in members)
        counted = [queries(r) for r in members]
        rows.append(Endpoint(
            name, len(members), _percentile(durations, 50), _percentile(durations, 95), _percentile(durations, 99),
            statistics.fmean(q for q, _ in counted), statistics.fmean(t for _, t in counted), sum(r.error for r in members),
        ))
    return rows


def findings(roots: Sequence[SpanRecord], include_commands: bool = False) -> list[Finding]:
    """Slow, N+1 and failed roots grouped by (kind, where, what), errors first, then by count.
    Management commands (a migration inserting one row per migration) are left out unless asked."""
    groups: dict[tuple[str, str, str], list[tuple[float, SpanRecord]]] = defaultdict(list)
    for root in roots:
        if is_command(root) and not include_commands:
            continue
        attributes = root.attributes
        if root.error:
            exception = exception_of(root)
            status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
            what = f"{exception[0]}: {exception[1]}" if exception else f"status {status}" if status else "failed"
            groups[("error", root.name, exception[0] if exception else what)].append((root.duration_ms, root))
        if attributes.get(N_PLUS_ONE_COUNT):
            statement = str(attributes.get(N_PLUS_ONE_STATEMENT, ""))
            groups[("N+1", root.name, statement)].append((float(attributes[N_PLUS_ONE_COUNT]), root))
        if attributes.get(SLOW):
            groups[("slow", root.name, "")].append((root.duration_ms, root))
    found = []
    for (kind, where, key), members in groups.items():
        weight, worst = max(members, key=lambda m: m[0])
        if kind == "error":
            exception = exception_of(worst)
            what = f"{exception[0]}: {exception[1]}".rstrip(": ") if exception else key
        elif kind == "N+1":
            what = f"{weight:.0f}x {key}"
        else:
            what = f"median {statistics.median(m[0] for m in members):.0f} ms, worst {weight:.0f} ms"
        a = worst.attributes
        found.append(Finding(kind, where, what, len(members), worst,
                             str(a.get(N_PLUS_ONE_SOURCE, "")) if kind == "N+1" else "",
                             str(a.get(N_PLUS_ONE_INNERMOST, "")) if kind == "N+1" else ""))
    return sorted(found, key=lambda f: (_ORDER[f.kind], -f.count, f.where))
