"""The spans of a file written with ``OTEL_TRAINERHUB_SPAN_FILE`` (the SDK's ``to_json``, one per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from otel_trainerhub.attributes import COMMAND_NAME, DB_DURATION_MS, DB_QUERY_COUNT

__all__ = ["Row", "SpanRecord", "descendants", "exception_of", "is_command", "load_spans", "local_roots", "queries", "waterfall"]


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
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[SpanRecord] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000

    @property
    def is_db(self) -> bool:
        return self.attributes.get("db.system") not in (None, "redis")

    @property
    def label(self) -> str:
        """What a waterfall row says: a statement rather than its first word (the span name)."""
        statement = self.attributes.get("db.statement") or self.attributes.get("db.query.text")
        return " ".join(str(statement).split()) if statement else self.name


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def _hex(value: str | None) -> str:
    # to_json writes ids as 0x-prefixed hex; Jaeger and the logs show them bare.
    return value[2:] if value and value.startswith("0x") else (value or "")


def load_spans(lines: Iterable[str]) -> list[SpanRecord]:
    """Every span of ``lines``, linked to its parent; SystemExit naming the first bad line."""
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
                    events=[e for e in raw.get("events") or [] if isinstance(e, dict)],
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
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


def is_command(root: SpanRecord) -> bool:
    """A management command's span (``manage.py migrate``), not the application serving."""
    return COMMAND_NAME in root.attributes or root.name.startswith("manage.py ")


def descendants(span: SpanRecord) -> Iterator[SpanRecord]:
    for child in span.children:
        # Work done under another local root (a task under its publish) belongs to that root.
        if child.kind in ("SERVER", "CONSUMER"):
            continue
        yield child
        yield from descendants(child)


def queries(root: SpanRecord) -> tuple[int, float]:
    """The root's SQL statements and their time (ms): its attribution, else its SQL spans."""
    if DB_QUERY_COUNT in root.attributes:
        return int(root.attributes[DB_QUERY_COUNT]), float(root.attributes.get(DB_DURATION_MS, 0.0))
    db = [s for s in descendants(root) if s.is_db]
    return len(db), sum(s.duration_ms for s in db)


def exception_of(root: SpanRecord) -> tuple[str, str] | None:
    """(type, message) of the first exception recorded on the root or under it."""
    for span in (root, *descendants(root)):
        for event in span.events:
            attributes = event.get("attributes") or {}
            if event.get("name") == "exception" and attributes.get("exception.type"):
                return str(attributes["exception.type"]), str(attributes.get("exception.message") or "")
    return None


@dataclass
class Row:
    depth: int
    offset_ms: float  # from the root's start
    duration_ms: float
    span: SpanRecord


def waterfall(root: SpanRecord) -> list[Row]:
    """The root and every span under it, depth first in start order, timed from the root's start."""
    rows: list[Row] = []

    def add(span: SpanRecord, depth: int) -> None:
        rows.append(Row(depth, (span.start - root.start) * 1000, span.duration_ms, span))
        for child in span.children:
            add(child, depth + 1)

    add(root, 0)
    return rows
