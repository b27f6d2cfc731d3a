"""Database connection use from the application: what PostgreSQL cannot tell per process.

Without a pool (``CONN_MAX_AGE``), three counters per database alias: connections Django
opened, closed, and requests that started on a connection an earlier request left open
(reused); with ``CONN_MAX_AGE = 0`` opened equals requests. Connections that could not be
opened (refused, bad password; or not taken from a pool for another reason than its timeout)
are counted by error type in ``trainerhub.db.connections.failed``, with or without a pool. The time to open one is
``db.client.connection.create_time``.

With Django's psycopg pool (``OPTIONS={"pool": ...}``, Django 5.1+) the semantic conventions'
``db.client.connection.*`` instruments (contrib has none yet, its issue #1158), from the pool's
own ``get_stats()``: ``count`` by state (idle, used), ``max``, ``idle.min``,
``pending_requests`` (waiting for a connection), ``timeouts`` and ``wait_time`` (the time
Django waited to get one). Opened / closed / reused are not counted for a pooled alias, where
they would only count check-outs.

Two wrappers (``BaseDatabaseWrapper.connect`` and ``close``, which run only when a connection
opens or closes) and one ``request_started`` receiver; nothing on the statement path.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from otel_trainerhub import patches
from otel_trainerhub.attributes import (
    DB_CONNECTION_STATE, DB_CONNECTIONS_CLOSED, DB_CONNECTIONS_FAILED, DB_CONNECTIONS_OPENED, DB_CONNECTIONS_REUSED, DB_POOL_NAME,
    ERROR_TYPE,
)
from otel_trainerhub.contain import swallowed

__all__ = ["install", "uninstall"]

_BASE = "django.db.backends.base.base"
_pools: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()  # alias -> psycopg pool
_instruments: dict[str, Any] = {}
_attributes: dict[str, dict[str, str]] = {}  # alias -> {pool name}, built once
_reused: dict[str, int] = {}  # alias (no pool) -> requests that started on an open connection


def _of(alias: str, pooled: bool = False) -> dict[str, str]:
    attributes = _attributes.get(alias)
    if attributes is None:
        attributes = _attributes[alias] = {DB_POOL_NAME: str(alias)[:64]}  # an alias of settings.DATABASES
        # Every counter of the alias starts at 0, so that a rate (and an alert on it) exists
        # before the first event.
        if not pooled:
            _reused.setdefault(alias, 0)
        for key in ("timeouts",) if pooled else ("opened", "closed"):
            _instruments[key].add(0, attributes)
    return attributes


def _pooled(connection: Any) -> bool:
    options = connection.settings_dict.get("OPTIONS") or {}
    return bool(options.get("pool")) and connection.vendor == "postgresql"


def _timed_connect(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    started = time.perf_counter()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as error:
        _record_connect(instance, started, error)
        raise
    _record_connect(instance, started, None)
    return result


def _record_connect(instance: Any, started: float, error: BaseException | None) -> None:
    try:
        elapsed = time.perf_counter() - started
        pooled = _pooled(instance)
        attributes = _of(instance.alias, pooled)
        if error is not None and type(error).__name__ != "PoolTimeout" and isinstance(error, Exception):
            # Refused, unknown host, bad password: by the error's type (its text can name hosts and users).
            _instruments["failed"].add(1, {**attributes, ERROR_TYPE: _error_type(error)})
        if pooled:
            if type(error).__name__ == "PoolTimeout":
                _instruments["timeouts"].add(1, attributes)
            _instruments["wait_time"].record(elapsed, attributes)
            pool = getattr(instance, "pool", None) if error is None else None
            if pool is not None:
                _pools[instance.alias] = pool
        elif error is None:
            _instruments["create_time"].record(elapsed, attributes)
            _instruments["opened"].add(1, attributes)
    except Exception:
        swallowed("db connection metrics")


def _error_type(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"[:128]


def _counted_close(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    was_open = getattr(instance, "connection", None) is not None
    result = wrapped(*args, **kwargs)
    try:
        if was_open and instance.connection is None and not _pooled(instance):
            _instruments["closed"].add(1, _of(instance.alias))
    except Exception:
        swallowed("db connection metrics")
    return result


def _request_started(sender: Any, **kwargs: Any) -> None:
    """After Django's own receiver closed what was too old: what is still open is reused.
    Counted in plain ints (reported when metrics are collected): this runs for every request."""
    try:
        from django.db import connections

        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                alias = connection.alias
                if alias in _reused:
                    _reused[alias] += 1  # a lost increment under a thread race is a tolerated undercount
                elif not _pooled(connection):
                    _reused[alias] = 1
    except Exception:
        swallowed("db connection metrics")


def _observe_reused(options: CallbackOptions) -> Iterator[Observation]:
    for alias, count in list(_reused.items()):
        yield Observation(count, _of(alias))


def _stats() -> Iterator[tuple[str, dict[str, int]]]:
    for alias, pool in list(_pools.items()):
        try:
            yield alias, pool.get_stats()
        except Exception:
            swallowed("db pool stats")


def _observe_count(options: CallbackOptions) -> Iterator[Observation]:
    for alias, stats in _stats():
        idle = stats.get("pool_available", 0)
        yield Observation(idle, {**_of(alias), DB_CONNECTION_STATE: "idle"})
        yield Observation(max(0, stats.get("pool_size", 0) - idle), {**_of(alias), DB_CONNECTION_STATE: "used"})


def _observer(key: str) -> Callable[[CallbackOptions], Iterator[Observation]]:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for alias, stats in _stats():
            yield Observation(stats.get(key, 0), _of(alias))

    return observe


def install(meter_provider: MeterProvider) -> None:
    from django.core.signals import request_started

    if _instruments:
        return
    meter = meter_provider.get_meter("otel_trainerhub.db.connections")
    _instruments.update(
        opened=meter.create_counter(DB_CONNECTIONS_OPENED, unit="{connection}", description="Connections Django opened (no pool)"),
        closed=meter.create_counter(DB_CONNECTIONS_CLOSED, unit="{connection}", description="Connections Django closed (no pool)"),
        failed=meter.create_counter(DB_CONNECTIONS_FAILED, unit="{connection}",
                                    description="Connections that could not be opened (or taken from the pool), by error type"),
        create_time=meter.create_histogram("db.client.connection.create_time", unit="s", description="Time to open a connection"),
        wait_time=meter.create_histogram("db.client.connection.wait_time", unit="s", description="Time to get a connection from the pool"),
        timeouts=meter.create_counter("db.client.connection.timeouts", unit="{timeout}",
                                      description="Requests for a pooled connection that timed out"),
    )
    meter.create_observable_counter(DB_CONNECTIONS_REUSED, [_observe_reused], unit="{request}",
                                    description="Requests that started on a connection an earlier one left open (CONN_MAX_AGE)")
    meter.create_observable_up_down_counter("db.client.connection.count", [_observe_count], unit="{connection}",
                                            description="Pooled connections by state")
    for name, key, description in (("max", "pool_max", "Most connections the pool allows"),
                                   ("idle.min", "pool_min", "Fewest connections the pool keeps"),
                                   ("pending_requests", "requests_waiting", "Requests waiting for a pooled connection")):
        meter.create_observable_up_down_counter(f"db.client.connection.{name}", [_observer(key)], unit="{connection}" if "pending" not in name else "{request}",
                                                description=description)
    patches.wrap(_BASE, "BaseDatabaseWrapper.connect", _timed_connect)
    patches.wrap(_BASE, "BaseDatabaseWrapper.close", _counted_close)
    patches.connect(request_started, _request_started, "db_connections_reused")


def uninstall() -> None:
    patches.undo(f"wrap {_BASE}.BaseDatabaseWrapper.connect")
    patches.undo(f"wrap {_BASE}.BaseDatabaseWrapper.close")
    patches.undo("signal db_connections_reused")
    _instruments.clear()
    _pools.clear()
    _reused.clear()
