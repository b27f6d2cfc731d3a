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
        own = _own_statement_getter(name)
        if own is not None:
            unwrap(own, "get_statement")
        if not _sql_policy_users:
            from otel_trainerhub._sdk import dbapi

            dbapi.uninstall()
            module, owner, attribute = _DBAPI_TRACER
            unwrap(getattr(importlib.import_module(module), owner), attribute)


def _sanitized_statement(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    statement = wrapped(*args, **kwargs)
    return _masked(statement) if isinstance(statement, str) else statement


def _masked(statement: str) -> str:
    return sanitize(uncommented(statement))


def _apply_sql_policy(user: str) -> None:
    """No SQL literal ever reaches a span: ``db.statement`` / ``db.query.text`` masked for
    every DB-API instrumentor, on the lean statement path (``_sdk.dbapi``) and on contrib's,
    which the lean one hands what it does not cover (one wrapper each, removed with their
    last user)."""
    if not _sql_policy_users:
        from otel_trainerhub._sdk import dbapi

        module, owner, attribute = _DBAPI_TRACER
        wrapt.wrap_function_wrapper(module, f"{owner}.{attribute}", _sanitized_statement)
        dbapi.install(_masked)
    own = _own_statement_getter(user)
    if own is not None:
        # psycopg's and psycopg2's CursorTracer render a Composable (sql.SQL(...).format(
        # sql.Literal(...))) themselves, without calling the one wrapped above.
        wrapt.wrap_function_wrapper(own, "get_statement", _sanitized_statement)
    _sql_policy_users.add(user)


def _own_statement_getter(user: str) -> Any:
    """The driver instrumentor's own CursorTracer subclass, when it overrides ``get_statement``."""
    module = importlib.import_module(CONTRIB[user][1].partition(":")[0])
    owner = getattr(module, _DBAPI_TRACER[1], None)
    return owner if owner is not None and _DBAPI_TRACER[2] in vars(owner) else None
