"""SQL comments that name the route on the server side (``OTEL_TRAINERHUB_SQL_COMMENTS``).

PostgreSQL's slow-statement log and ``pg_stat_statements`` see only SQL text. With this on,
every statement Django sends ends in a comment in the sqlcommenter format
(``/*app='bookings',controller='booking-list',route='api/bookings/'*/``; a Celery task's
statements carry ``task='…'`` instead of the route), so the server's own views name the
route, view and app that sent it. ``route+traceparent`` adds the W3C ``traceparent`` of the
span current when the statement ran; it is off by default because it makes every statement's
text unique, which defeats psycopg's prepared statements (prepared per text). PostgreSQL's
``queryid`` ignores comments, so pg_stat_statements groups the same statement from two routes
into one row, shown with the comment of the first it saw.

The comment goes on through one Django execute wrapper per connection (put on as Django opens
it); span statements have it taken off again (``sql.uncommented``), so spans, N+1 fingerprints and
slow-query counts read the same whatever this setting is. Values come from the URLconf and
the task registry, never from the request, and are URL-encoded as the format specifies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

from opentelemetry import trace

from otel_trainerhub import patches
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation.django import routes
from otel_trainerhub.instrumentation.django.identity import CURRENT_REQUEST
from otel_trainerhub.settings import SQL_COMMENT_MODES as MODES

__all__ = ["MODES", "comment_for", "install", "uninstall"]

_SAFE: Final = "/<>:.{}"  # kept readable; quote() still encodes ' * and everything else
_with_traceparent = False
_enabled = False
_apps: dict[str, str] = {}  # a view's module -> its Django app label
_STATE = "otel_trainerhub_sql_comment"  # request attribute: (the ResolverMatch, its comment)


def _format(pairs: dict[str, str]) -> str:
    """sqlcommenter: key='value' pairs sorted by key, URL-encoded, in one trailing block comment."""
    body = ",".join(f"{quote(k, safe='')}='{quote(v, safe=_SAFE)}'" for k, v in sorted(pairs.items()) if v)
    return f" /*{body}*/" if body else ""


def _app_of(module: str) -> str:
    label = _apps.get(module)
    if label is None:
        from django.apps import apps

        config = apps.get_containing_app_config(module)
        label = config.label if config is not None else ""
        if len(_apps) < 4096:
            _apps[module] = label
    return label


def comment_for(request: Any) -> str:
    """The comment for ``request``'s statements (cached on it), ``""`` before Django resolved its URL."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    cached = getattr(request, _STATE, None)
    if cached is not None and cached[0] is match:
        return str(cached[1])
    func = getattr(match, "func", None)
    module = getattr(getattr(func, "view_class", func), "__module__", "") or ""
    text = _format({
        "route": routes.template(getattr(match, "route", None) or ""),
        "controller": match.view_name or "",
        "app": match.app_name or _app_of(module),
    })
    setattr(request, _STATE, (match, text))
    return text


def _task_comment() -> str:
    try:
        from celery import current_task
    except ImportError:
        return ""
    task = current_task  # a proxy: false outside a task
    if not task or not getattr(task.request, "id", None):
        return ""
    return _format({"task": str(task.name or ""), "app": _app_of(type(task).__module__ or "")})


def _traceparent() -> str:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return ""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _commented(sql: Any) -> Any:
    if not isinstance(sql, str) or "/*" in sql or "--" in sql:
        return sql  # the format's rule: a statement that has a comment already is left as it is
    request = CURRENT_REQUEST.get()
    comment = comment_for(request) if request is not None else _task_comment()
    if _with_traceparent:
        parent = _traceparent()
        if parent:
            comment = f"{comment[:-2]},traceparent='{parent}'*/" if comment else f" /*traceparent='{parent}'*/"
    return sql + comment if comment else sql


def _wrapper(execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
    try:
        sql = _commented(sql)
    except Exception:
        swallowed("sql comment")
    return execute(sql, params, many, context)


def _on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    wrappers = getattr(connection, "execute_wrappers", None)
    if isinstance(wrappers, list) and _wrapper not in wrappers:
        # First in the list: Django runs it outermost, so the wrappers the application enters
        # and leaves later (its own context managers pop the last entry) never remove it, and
        # they see the statement with its comment (django-debug-toolbar shows it).
        wrappers.insert(0, _wrapper)


def install(mode: str) -> None:
    """Comment every statement from now on (``mode`` one of :data:`MODES`, ``"off"``: nothing)."""
    global _enabled, _with_traceparent
    if mode == "off":
        return
    from django.db import connections
    from django.db.backends.signals import connection_created

    _with_traceparent = mode == "route+traceparent"
    _enabled = True
    patches.connect(connection_created, _on_connection, "sql_comments")
    for connection in connections.all(initialized_only=True):
        _on_connection(None, connection)


def uninstall() -> None:
    global _enabled
    if not _enabled:
        return
    from django.db import connections

    _enabled = False
    patches.undo("signal sql_comments")
    for connection in connections.all(initialized_only=True):
        wrappers = getattr(connection, "execute_wrappers", None)
        if isinstance(wrappers, list) and _wrapper in wrappers:
            wrappers.remove(_wrapper)

