"""What one local root's descendants did (:class:`RootState`), and what a root is called."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from otel_trainerhub.attributes import COMMAND_NAME, UNMATCHED_ROUTE

__all__ = ["RootState", "route_of"]


class RootState:
    """What the descendants of one local root did."""

    __slots__ = ("lock", "db_count", "db_ns", "cache_count", "cache_ns", "cache_hits", "cache_misses", "http_count", "http_ns", "fingerprints",
                 "n_plus_one_source", "n_plus_one_frames", "slow_queries", "slow_unlisted", "open", "__weakref__")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.db_count = 0
        self.db_ns = 0
        self.cache_count = 0
        self.cache_ns = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.http_count = 0
        self.http_ns = 0
        self.fingerprints: dict[str, int] = {}
        # statement -> (where the loop repeats it, the innermost application frame)
        self.n_plus_one_source: dict[str, tuple[str, str]] = {}
        # statement -> the application frames of one repeat, until the next one is compared
        self.n_plus_one_frames: dict[str, list[Any]] = {}
        self.slow_queries: list[tuple[str, int, str | None, str]] | None = None  # slow_queries.py
        self.slow_unlisted = 0
        self.open = True


def route_of(attributes: Mapping[str, Any]) -> tuple[str, str]:
    """(kind of root, route or task name) for metrics and logs."""
    route = attributes.get("http.route")
    if route is not None:
        return "request", str(route)
    task = attributes.get("celery.task_name")
    if task is not None:
        return "task", str(task)
    command = attributes.get(COMMAND_NAME)
    if command is not None:
        return "command", str(command)
    if "http.request.method" in attributes or "http.method" in attributes:
        return "request", UNMATCHED_ROUTE  # a server span whose URL no pattern matched
    return "other", "unknown"
