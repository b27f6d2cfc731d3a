"""The contrib instrumentors we adapt with nothing but their providers: the DB-API drivers
(psycopg 3, psycopg2, sqlite3) under our SQL policy, and outbound HTTP (requests, urllib3).
One table, one adapter (STYLE §1): each is ``BaseInstrumentor.instrument()`` with its own
version check, so a driver outside the versions its instrumentor supports is left alone
with a warning instead of half-patched."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, Final

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from otel_trainerhub.instrumentation.base import InstrumentationContext, supported
from otel_trainerhub.sql import sanitize, uncommented

__all__ = ["CONTRIB", "instrument", "uninstrument"]

# name -> (the library's import name, contrib instrumentor "module:Class", takes a meter
# provider, a DB-API driver under our SQL policy)
CONTRIB: Final = {
    "psycopg": ("psycopg", "opentelemetry.instrumentation.psycopg:PsycopgInstrumentor", False, True),
    "psycopg2": ("psycopg2", "opentelemetry.instrumentation.psycopg2:Psycopg2Instrumentor", False, True),
    "sqlite3": ("sqlite3", "opentelemetry.instrumentation.sqlite3:SQLite3Instrumentor", False, True),
    "requests": ("requests", "opentelemetry.instrumentation.requests:RequestsInstrumentor", True, False),
    "urllib3": ("urllib3", "opentelemetry.instrumentation.urllib3:URLLib3Instrumentor", True, False),
}

_DBAPI_TRACER = ("opentelemetry.instrumentation.dbapi", "CursorTracer", "get_statement")
_sql_policy_users: set[str] = set()


def _instrumentor(name: str) -> Any:
    module, _, cls = CONTRIB[name][1].partition(":")
    return getattr(importlib.import_module(module), cls)()


def instrument(name: str, context: InstrumentationContext) -> bool:
    library, _, with_meter, dbapi = CONTRIB[name]
    importlib.import_module(library)  # ImportError: not installed
    instrumentor = _instrumentor(name)
    if not supported(name, instrumentor):
        return False
    if dbapi:
        _apply_sql_policy(name)
    options: dict[str, Any] = {"tracer_provider": context.tracer_provider}
    if with_meter:
        options["meter_provider"] = context.meter_provider
    instrumentor.instrument(**options, skip_dep_check=True)  # supported() just checked the versions
    return True


def uninstrument(name: str) -> None:
    _instrumentor(name).uninstrument()
    if name in _sql_policy_users:
        _sql_policy_users.discard(name)
        if not _sql_policy_users:
            module, owner, attribute = _DBAPI_TRACER
            unwrap(getattr(importlib.import_module(module), owner), attribute)


def _sanitized_statement(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    statement = wrapped(*args, **kwargs)
    return sanitize(uncommented(statement)) if isinstance(statement, str) else statement


def _apply_sql_policy(user: str) -> None:
    """No SQL literal ever reaches a span: ``db.statement`` / ``db.query.text`` masked for
    every DB-API instrumentor (one wrapper, removed with its last user)."""
    if not _sql_policy_users:
        module, owner, attribute = _DBAPI_TRACER
        wrapt.wrap_function_wrapper(module, f"{owner}.{attribute}", _sanitized_statement)
    _sql_policy_users.add(user)
