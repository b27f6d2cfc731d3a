"""Export: one pipeline per signal (traces.py, metrics.py, logs.py), the fork story (fork.py),
the counts of what is delivered and dropped (accounting.py, ledger.py), and here the
resource they share and their bounded flush and shutdown.

Telemetry failures never reach the request path: spans and log records go to bounded
queues and are exported on background threads; whatever cannot be delivered is counted.
Shutdown is bounded as a whole (``OTEL_TRAINERHUB_SHUTDOWN_TIMEOUT``), and spends no time
on the network when the collector is known to be down or hung: an export of this process
is stuck, or the last export of any process of the tree failed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import threading
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from otel_trainerhub.contain import contained
from otel_trainerhub.export.accounting import STATS
from otel_trainerhub.export.batching import DropCountingBatchLogRecordProcessor, DropCountingBatchSpanProcessor
from otel_trainerhub.export.metrics import ForkSafeMetricReader
from otel_trainerhub.settings import Settings

__all__ = ["Pipelines", "build_resource"]



def build_resource(settings: Settings) -> Resource:
    attributes: dict[str, Any] = dict(settings.resource_attributes)
    attributes.update(
        {
            "service.name": settings.service_name,
            "deployment.environment.name": settings.environment,
            "process.pid": os.getpid(),
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": platform.python_version(),
        }
    )
    if settings.release_version:
        attributes["service.version"] = settings.release_version
    # Resource.create would read OTEL_RESOURCE_ATTRIBUTES again; settings already did, validated.
    return Resource({**Resource.create({}).attributes, **attributes})


@dataclasses.dataclass(eq=False)
class Pipelines:
    """The three signals' providers of this process and their bounded flush and shutdown."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    batch_processors: list[DropCountingBatchSpanProcessor]
    metric_readers: list[ForkSafeMetricReader]
    logger_provider: LoggerProvider | None = None
    log_processors: list[DropCountingBatchLogRecordProcessor] = dataclasses.field(default_factory=list)
    shutdown_timeout: float = 2.0
    _shut_down_pid: int = 0

    def collector_unavailable(self) -> bool:
        """An export of ours hangs, or the tree's last export failed: flushing would only wait."""
        ledger = STATS.ledger
        if any(p.stuck() for p in (*self.batch_processors, *self.log_processors)) or any(
            r.per_process_exporter.stuck() for r in self.metric_readers
        ):
            if ledger is not None:
                ledger.record_outcome(False)
            return True
        return ledger is not None and ledger.collector_failing()

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what every signal holds now, all of it within ``timeout`` seconds (default: the
        shutdown timeout); with the collector known down or hung, nothing is waited for."""
        left = _time_left(self.shutdown_timeout if timeout is None else timeout)
        flushes: list[Callable[[int], Any]] = [self.tracer_provider.force_flush, self.meter_provider.force_flush]
        if self.logger_provider is not None:
            flushes.insert(1, self.logger_provider.force_flush)
        flushed = True
        for flush in flushes:
            if self.collector_unavailable():
                return False
            run: Callable[[], Any] = functools.partial(flush, int(left() * 1000))
            flushed = _run_bounded(run, left(), give_up=self.collector_unavailable) and flushed
        return flushed

    def shutdown(self, timeout: float | None = None) -> None:
        """Flush and stop, all of it within ``timeout`` seconds (default: the shutdown timeout);
        count what was not delivered; in a child, hand its unreported drops to the parent."""
        if self._shut_down_pid == os.getpid():
            return
        self._shut_down_pid = os.getpid()
        budget = self.shutdown_timeout if timeout is None else timeout
        left = _time_left(budget)
        reachable = not self.collector_unavailable()
        if reachable:
            # A collector that stops answering meanwhile ends the wait early.
            flushed = _run_bounded(self.tracer_provider.force_flush, left(), give_up=self.collector_unavailable,
                                   inline=lambda s: self.tracer_provider.force_flush(int(s * 1000)))
            if self.logger_provider is not None:
                logs = self.logger_provider
                flushed = _run_bounded(logs.force_flush, left(), give_up=self.collector_unavailable,
                                       inline=lambda s: logs.force_flush(int(s * 1000))) and flushed
            if not flushed and STATS.ledger is not None:
                STATS.ledger.record_outcome(False)  # the next process to exit need not wait too
            reachable = flushed
        # Stop the batch threads without waiting on an export that hangs.
        stop_wait = left() if reachable else 0.0
        _run_bounded(self.tracer_provider.shutdown, stop_wait)
        if self.logger_provider is not None:
            _run_bounded(self.logger_provider.shutdown, stop_wait)
        for signal, processors in (("spans", self.batch_processors), ("logs", self.log_processors)):
            undelivered = sum(p.abandon() for p in processors)
            if undelivered:
                why = f"after {budget:g}s" if reachable else "the collector is down or hangs"
                STATS.record_dropped(undelivered, "shutdown_timeout", f"{undelivered} {signal} undelivered: {why}", signal=signal)
        STATS.log_summary()
        if reachable and not self.collector_unavailable():
            # The last collection carries the final drop counts.
            _run_bounded(lambda: self.meter_provider.shutdown(timeout_millis=left() * 1000), left())
        STATS.hand_over_unreported()

    def exit_hook(self, seconds_left: float) -> None:
        """For fork.register_exit_hook: a process leaving without atexit shuts down the same way."""
        self.shutdown(min(seconds_left, self.shutdown_timeout))


def _time_left(timeout: float) -> Callable[[], float]:
    """Seconds left of a ``timeout`` budget that starts now (a sliver at least, never negative)."""
    deadline = time.monotonic() + timeout
    return lambda: max(0.05, deadline - time.monotonic())


def _run_bounded(
    fn: Callable[[], Any], timeout: float, give_up: Callable[[], bool] | None = None, inline: Callable[[float], Any] | None = None
) -> bool:
    """Run ``fn`` on a daemon thread and wait at most ``timeout`` seconds for it (less when
    ``give_up()`` turns true: it is asked every 50 ms). Where no thread can start (Python
    3.12+ refuses new threads once the interpreter is shutting down, when atexit runs),
    ``inline(timeout)`` runs here instead, bounded by its own timeout; without one, nothing runs."""
    result: list[Any] = []

    def target() -> None:
        result.append(False)
        with contained("shutdown"):
            result[0] = fn()

    thread = threading.Thread(target=target, name="otel-trainerhub-flush", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # "can't create new thread at interpreter shutdown"
        if inline is None:
            return False
        with contained("shutdown"):
            return bool(inline(timeout))
        return False
    if give_up is None:
        thread.join(timeout)
    else:
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline and not give_up():
            thread.join(min(0.05, max(0.0, deadline - time.monotonic())))
    return not thread.is_alive() and bool(result and result[0] is not False)
