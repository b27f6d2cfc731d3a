"""What the processes of one tree (a gunicorn master and its workers, a Celery main process
and its pool) share about telemetry, in a few bytes of shared memory made before they fork.

* **Collector health.** Each export's outcome (and the time) is written here, so a process
  that is about to exit knows whether the collector answered lately, even if it never
  exported itself (a gunicorn master after its workers timed out): with a collector that is
  down or hung, shutdown spends no time on the network (see ``export.Pipelines.shutdown``).
* **Drops of children that could not report them.** A child that exits with drops its
  metric never delivered (a Celery prefork child with the collector down) adds them here,
  and the process that made the ledger reports them in its own drop metric.

No lock of ours is held across a fork or an export: updates take a process-shared
semaphore for a few instructions, with a timeout, so a child killed in the middle can
cost a count, never a hang.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Mapping
from typing import Final

__all__ = ["DROP_REASONS", "InFlight", "Ledger"]

# Every reason is reported from the start, at 0: an alert on drops then watches a series
# that exists before the first drop (and a dashboard shows "0", not "no data").
DROP_REASONS: Final = ("queue_full", "export_failed", "shutdown_timeout", "after_shutdown")
_SIGNALS: Final = ("spans", "logs")
_SLOTS: Final = {(signal, reason): i for i, (signal, reason) in enumerate((s, r) for s in _SIGNALS for r in DROP_REASONS)}
_LAST_SUCCESS, _LAST_FAILURE, _PENDING_SINCE = len(_SLOTS), len(_SLOTS) + 1, len(_SLOTS) + 2
#: An export unanswered for longer than this means a collector that is down or hangs (a
#: healthy one answers a batch in milliseconds; the exporter's own retries take seconds).
STUCK_AFTER_S = 0.5
_LOCK_TIMEOUT_S = 0.05


class Ledger:
    def __init__(self) -> None:
        self.owner_pid = os.getpid()
        # 'q': int64 counters and CLOCK_MONOTONIC nanoseconds (one clock for every process of the machine).
        self._cells = multiprocessing.RawArray("q", len(_SLOTS) + 3)
        self._lock = multiprocessing.Lock()

    # -- collector health --

    # One aligned 8-byte store each: no lock needed, the last writer wins (races cost at most
    # one flush attempt or one skipped flush).

    def export_started(self) -> None:
        if not self._cells[_PENDING_SINCE]:
            self._cells[_PENDING_SINCE] = time.monotonic_ns()

    def record_outcome(self, success: bool) -> None:
        now = time.monotonic_ns()
        if success:
            self._cells[_LAST_SUCCESS], self._cells[_PENDING_SINCE] = now, 0
        else:
            self._cells[_LAST_FAILURE] = now

    def collector_failing(self) -> bool:
        """The most recent export outcome of the tree is a failure, or an export has gone
        unanswered for longer than a healthy collector takes."""
        pending = self._cells[_PENDING_SINCE]
        stuck = pending and time.monotonic_ns() - pending > STUCK_AFTER_S * 1e9
        return bool(stuck or self._cells[_LAST_FAILURE] > self._cells[_LAST_SUCCESS])

    # -- drops handed over by exiting children --

    def hand_over(self, drops: Mapping[tuple[str, str], int]) -> bool:
        """Add a child's unreported drops for the ledger's owner to report; False if it could not."""
        if not any(drops.values()) or not self._lock.acquire(timeout=_LOCK_TIMEOUT_S):
            return not any(drops.values())
        try:
            for key, count in drops.items():
                self._cells[_SLOTS[key]] += count
        finally:
            self._lock.release()
        return True

    def handed_over(self) -> dict[tuple[str, str], int]:
        """The drops children handed over (reported by the owner only: one series counts them)."""
        if os.getpid() != self.owner_pid:
            return {}
        return {key: self._cells[slot] for key, slot in _SLOTS.items()}


class InFlight:
    """The export one exporter has in progress in this process (a forked child does not see
    its parent's export thread's), told to the tree's ledger as it starts and ends."""

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state = (0, 0, 0.0)  # (pid, items, start): one assignment, read whole by shutdown

    def begin(self, items: int, ledger: Ledger | None) -> None:
        self._state = (os.getpid(), items, time.monotonic())
        if ledger is not None:
            ledger.export_started()

    def end(self, success: bool | None, ledger: Ledger | None) -> None:
        """``success`` None: an outcome that says nothing of the collector."""
        self._state = (0, 0, 0.0)
        if ledger is not None and success is not None:
            ledger.record_outcome(success)

    @property
    def items(self) -> int:
        pid, items, _ = self._state
        return items if pid == os.getpid() else 0

    def stuck(self) -> bool:
        """Waiting on the network for longer than a healthy collector takes."""
        pid, _, since = self._state
        return pid == os.getpid() and time.monotonic() - since > STUCK_AFTER_S
