"""Redis commands issued by application code; Celery's and kombu's own traffic stays untraced.

The contrib instrumentor patches ``redis.Redis`` for every client in the process, which
would turn the worker's queue polling, heartbeats, acknowledgements and result
bookkeeping into a stream of one-span traces. We mark the connection pools that kombu's
transport and Celery's result backend create, and run commands on marked pools with
instrumentation suppressed. Everything else (Django's cache, application clients) is traced.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import suppress_instrumentation, unwrap

from otel_trainerhub.attributes import CACHE_HITS, CACHE_MISSES
from otel_trainerhub.contain import swallowed
from otel_trainerhub.instrumentation.base import InstrumentationContext, supported

_log = logging.getLogger("otel_trainerhub.instrumentation")

INTERNAL_POOL_MARK = "_otel_trainerhub_internal"

# (module, attribute) patched by the contrib instrumentor that we wrap once more, outside it.
_COMMAND_ENTRY_POINTS = (
    ("redis", "Redis.execute_command"),
    ("redis.client", "Pipeline.execute"),
    ("redis.client", "Pipeline.immediate_execute_command"),
)
# Where kombu and Celery create the pools of their own clients.
_INTERNAL_POOL_FACTORIES = (
    ("kombu.transport.redis", "Channel._get_pool"),
    ("celery.backends.redis", "RedisBackend._get_pool"),
)
_wrapped: list[tuple[str, str]] = []
_active = False
_hooks_registered = False


def _skip_internal(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if getattr(getattr(instance, "connection_pool", None), INTERNAL_POOL_MARK, False):
        with suppress_instrumentation():
            return wrapped(*args, **kwargs)
    return wrapped(*args, **kwargs)


def _mark_pool(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    pool = wrapped(*args, **kwargs)
    if hasattr(pool, "__dict__"):  # a pool class with __slots__ stays traced rather than fail
        setattr(pool, INTERNAL_POOL_MARK, True)
    else:
        _log.debug("otel_trainerhub: %s has no __dict__; Celery's traffic on it stays traced", type(pool).__name__)
    return pool


def _mark_pools_of(module: str, attribute: str) -> Callable[[Any], None]:
    def hook(mod: Any) -> None:
        if _active and (module, attribute) not in _wrapped:
            wrapt.wrap_function_wrapper(mod, attribute, _mark_pool)
            _wrapped.append((module, attribute))

    return hook


def _response_hook(span: Any, instance: Any, response: Any) -> None:
    """A lookup's keys found and not found (GET, MGET: what Django's cache reads with), for the
    cache hit rate by route that the server's keyspace counts, mixing every client, cannot give."""
    try:
        if not span.is_recording():
            return
        name = getattr(span, "name", "")
        if name == "GET":
            hits = 0 if response is None else 1
            span.set_attributes({CACHE_HITS: hits, CACHE_MISSES: 1 - hits})
        elif name == "MGET" and isinstance(response, list):
            hits = sum(1 for value in response if value is not None)
            span.set_attributes({CACHE_HITS: hits, CACHE_MISSES: len(response) - hits})
    except Exception:
        swallowed("redis response hook")


def _getattr_path(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def instrument(context: InstrumentationContext) -> bool:
    import redis  # noqa: F401  (ImportError: not installed)
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    if not supported("redis", RedisInstrumentor()):
        return False
    # supported() just checked the versions: the instrumentor need not read the metadata again.
    RedisInstrumentor().instrument(tracer_provider=context.tracer_provider, response_hook=_response_hook, skip_dep_check=True)
    from otel_trainerhub._sdk import redis_ as lean

    # Commands on the lean path (contrib's spans, cheaper), which skips the internal pools itself.
    lean_commands = lean.install(context.tracer_provider, _response_hook, INTERNAL_POOL_MARK)
    for module, attribute in _COMMAND_ENTRY_POINTS[1:] if lean_commands else _COMMAND_ENTRY_POINTS:
        wrapt.wrap_function_wrapper(module, attribute, _skip_internal)
        _wrapped.append((module, attribute))
    global _active, _hooks_registered
    _active = True
    for module, attribute in _INTERNAL_POOL_FACTORIES:
        hook = _mark_pools_of(module, attribute)
        if module in sys.modules:
            hook(sys.modules[module])
        elif not _hooks_registered:
            wrapt.register_post_import_hook(hook, module)
    _hooks_registered = True
    return True


def uninstrument() -> None:
    global _active
    _active = False
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    while _wrapped:
        module, attribute = _wrapped.pop()
        owner_path, _, name = attribute.rpartition(".")
        unwrap(_getattr_path(importlib.import_module(module), owner_path), name)
    from otel_trainerhub._sdk import redis_ as lean

    lean.uninstall()
    RedisInstrumentor().uninstrument()
