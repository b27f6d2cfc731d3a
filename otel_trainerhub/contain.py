"""Containment of internal errors: telemetry code never raises into the application.

Like sentry-sdk's ``capture_internal_exceptions()``: a bug of ours in a span processor,
a hook, the request log or redaction is swallowed where it happens, logged once per place
every minute (with its traceback) on the ``otel_trainerhub.internal`` logger, and counted
in ``telemetry_stats()["internal_errors"]``. ``OTEL_TRAINERHUB_INTERNAL_ERRORS=raise``
re-raises instead: the project's test suite runs that way (an autouse fixture in process,
the environment in the processes it starts), so a swallowed bug cannot hide there.

Usage: ``with contained("redaction"): ...`` or ``except Exception: swallowed("redaction")``
where a fallback follows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["contained", "counts", "swallowed"]

_log = logging.getLogger("otel_trainerhub.internal")
_LOG_INTERVAL_S = 60.0

#: "raise" in the test suite (OTEL_TRAINERHUB_INTERNAL_ERRORS, set by configure()).
mode = "log"
_lock = threading.Lock()
_counts: Counter[str] = Counter()
_last_logged: dict[str, float] = {}


def swallowed(where: str) -> None:
    """Call from an ``except Exception:`` block: count and log the error being handled
    (re-raise it in ``raise`` mode)."""
    if mode == "raise":
        raise  # noqa: PLE0704 - re-raises the exception being handled
    now = time.monotonic()
    with _lock:
        _counts[where] += 1
        due = now - _last_logged.get(where, -_LOG_INTERVAL_S) >= _LOG_INTERVAL_S
        if due:
            _last_logged[where] = now
    if due:
        _log.warning("otel_trainerhub internal error in %s (swallowed; counted in telemetry_stats())", where, exc_info=True)


@contextmanager
def contained(where: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        swallowed(where)


def counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def reset_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    _counts.clear()
    _last_logged.clear()
