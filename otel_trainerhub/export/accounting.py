"""Counts of what this process exported and dropped, by signal and reason, and the metrics
and lines that make them visible.

The SDK's own self-observability (``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``) counts
queue drops and exporter outcomes per process, but not what is left undelivered at
shutdown, nor what a prefork child could not report before ``os._exit``; so these counts
are ours. A drop is reported three ways: a rate-limited warning line on the
``otel_trainerhub.export`` logger, one summary line per process at exit, and the metric
``trainerhub.telemetry.spans.dropped{reason}`` (children's hand-overs included, see
:mod:`otel_trainerhub.export.ledger`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from otel_trainerhub.attributes import LOGS_DROPPED, SPANS_DROPPED, SPANS_EXPORTED
from otel_trainerhub.export.ledger import DROP_REASONS, Ledger

__all__ = ["STATS", "TelemetryStats", "observe_drops"]

_log = logging.getLogger("otel_trainerhub.export")
_WARN_INTERVAL_S = 10.0


class TelemetryStats:
    """Process-local counts of spans exported, and of spans and log records dropped by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.exported = 0
        self.dropped: dict[str, Counter[str]] = {"spans": Counter(), "logs": Counter()}
        self._unwarned: Counter[tuple[str, str]] = Counter()
        self._last_warning = 0.0
        # The drop counts the last delivered metric export carried: what a child that exits
        # has not reported yet is the difference.
        self.observed: dict[tuple[str, str], int] = {}
        self.reported: dict[tuple[str, str], int] = {}
        self.ledger: Ledger | None = None

    def record_exported(self, count: int) -> None:
        with self._lock:
            self.exported += count

    def record_dropped(self, count: int, reason: str, detail: str = "", *, signal: str = "spans") -> None:
        with self._lock:
            self.dropped[signal][reason] += count
            self._unwarned[(signal, reason)] += count
            now = time.monotonic()
            if now - self._last_warning < _WARN_INTERVAL_S:
                return
            self._last_warning = now
            batch, self._unwarned = self._unwarned, Counter()
            total = sum(self.dropped["spans"].values())
        summary = ", ".join(f"{n} {'log records' if s == 'logs' else 'spans'} {r}" for (s, r), n in sorted(batch.items()))
        _log.warning(
            "otel_trainerhub dropped telemetry: %s (%d spans dropped in this process since start)%s",
            summary,
            total,
            f"; last error: {detail}" if detail else "",
        )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": os.getpid(),
                "spans_exported": self.exported,
                "spans_dropped": dict(self.dropped["spans"]),
                "logs_dropped": dict(self.dropped["logs"]),
            }

    def log_summary(self) -> None:
        """The per-process exit line, when anything was lost."""
        summary = self.snapshot()
        if not (summary["spans_dropped"] or summary["logs_dropped"]):
            return
        _log.warning(
            "otel_trainerhub: process %d exported %d spans and dropped %d (%s); dropped %d log records (%s)",
            summary["pid"],
            summary["spans_exported"],
            sum(summary["spans_dropped"].values()),
            ", ".join(f"{reason}: {n}" for reason, n in sorted(summary["spans_dropped"].items())),
            sum(summary["logs_dropped"].values()),
            ", ".join(f"{reason}: {n}" for reason, n in sorted(summary["logs_dropped"].items())),
        )

    def hand_over_unreported(self) -> None:
        """At a child's exit: give the ledger's owner the drops this process's metric never delivered."""
        if self.ledger is None or os.getpid() == self.ledger.owner_pid:
            return
        with self._lock:
            unreported = {
                (signal, reason): count - self.reported.get((signal, reason), 0)
                for signal, counter in self.dropped.items()
                for reason, count in counter.items()
            }
        if not self.ledger.hand_over(unreported):
            _log.warning("otel_trainerhub: process %d could not hand its drop counts over: %s", os.getpid(), unreported)

    def mark_delivered(self) -> None:
        """The metric export that carried ``observed`` was accepted."""
        self.reported = dict(self.observed)

    def reset_in_child(self) -> None:
        # The parent's export thread may have held the lock at fork.
        self._lock = threading.Lock()
        self.exported = 0
        for counter in self.dropped.values():
            counter.clear()
        self._unwarned.clear()
        self.observed, self.reported = {}, {}


STATS = TelemetryStats()


def _observe_dropped(signal: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        own = STATS.snapshot()[f"{signal}_dropped"]
        children = STATS.ledger.handed_over() if STATS.ledger is not None else {}
        for reason in dict.fromkeys((*DROP_REASONS, *own)):
            STATS.observed[(signal, reason)] = own.get(reason, 0)
            yield Observation(own.get(reason, 0) + children.get((signal, reason), 0), {"reason": reason})

    return observe


def _observe_exported(_options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(STATS.snapshot()["spans_exported"])


def observe_drops(meter: Meter) -> None:
    """The telemetry self-metrics, on ``meter``."""
    meter.create_observable_counter(
        SPANS_DROPPED,
        callbacks=[_observe_dropped("spans")],
        unit="{span}",
        description="Spans this process (and its exited children) created but could not deliver, by reason",
    )
    meter.create_observable_counter(
        LOGS_DROPPED,
        callbacks=[_observe_dropped("logs")],
        unit="{log_record}",
        description="Log records this process (and its exited children) could not deliver over OTLP, by reason",
    )
    meter.create_observable_counter(
        SPANS_EXPORTED,
        callbacks=[_observe_exported],
        unit="{span}",
        description="Spans this process handed to its exporter successfully",
    )
