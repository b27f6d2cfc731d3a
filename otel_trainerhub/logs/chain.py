"""The processor chain every log line goes through, whichever sink it is for.

A stdlib record goes through ``FOREIGN`` (context variables, who the request is for, trace
ids, timestamp, level, logger name and the call's extras), a structlog logger's event
through the same ``SHARED`` processors in structlog's own chain; then every sink's event
through one finishing step (the exception rendered, the redaction policy) and is rendered.
Each step runs for every line, so what structlog does in several processors is done here
in as few calls as the result allows (``benchmarks/micro.py`` counts a line).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

from otel_trainerhub.redaction import redact_value

__all__ = ["FINISH_JSON", "FINISH_CONSOLE", "FOREIGN", "SHARED", "render_json", "request_identity", "set_identity_source"]

# Keys we set ourselves: trusted, never scanned by the redaction pass.
_OWN_KEYS = frozenset(
    {"timestamp", "levelname", "name", "trace_id", "span_id", "request_id", "task_id", "task_name", "user_id", "trainer_id",
     "duration_ms", "status_code", "method", "db_queries", "db_time", "pid"}
)


def add_trace_context(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


_LEVELS = {"warn": "WARNING", "exception": "ERROR", "msg": "INFO"}
# What every LogRecord has (the attributes structlog's ExtraAdder skips too): the rest are a
# call's extras. uvicorn's color_message, its message again with ANSI colour codes, is for
# a terminal only.
_NOT_EXTRAS = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__) | {"color_message"}


def add_record_fields(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """levelname and name, then a stdlib record's extras: what add_log_level, add_logger_name
    and ExtraAdder would do, in one call per line rather than three (it runs for every line)."""
    record = event_dict.get("_record")
    if record is None:  # from a structlog logger
        event_dict["levelname"] = _LEVELS.get(method_name) or method_name.upper()
        event_dict["name"] = getattr(logger, "name", "")
        return event_dict
    event_dict["levelname"] = record.levelname
    event_dict["name"] = record.name
    for key, value in record.__dict__.items():
        if key not in _NOT_EXTRAS:
            event_dict[key] = value
    return event_dict


def _finisher(*, escape_control: bool) -> Any:
    """What every sink's event goes through last, in one call: the formatter's meta keys
    removed, the exception rendered (structlog's format_exc_info), the redaction policy."""
    format_exc_info = structlog.processors.format_exc_info

    def finish(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event_dict.pop("_record", None)
        event_dict.pop("_from_structlog", None)
        if "exc_info" in event_dict:
            event_dict = format_exc_info(logger, method_name, event_dict)
        for key, value in event_dict.items():
            if key not in _OWN_KEYS and value is not None and not isinstance(value, (bool, int, float)):
                if escape_control and key in _MULTILINE_KEYS and isinstance(value, str):
                    event_dict[key] = _indented(key, value)
                else:
                    event_dict[key] = redact_value(key, value, escape_control=escape_control)
        return event_dict

    return finish


# On a terminal a traceback reads line by line: its lines are kept apart, each indented, so
# that no line of it (an exception message's own newline included) can pass for a log line,
# which starts at the margin with its timestamp. Other control characters are escaped.
_MULTILINE_KEYS = frozenset({"exception", "stack"})


def _indented(key: str, text: str) -> str:
    masked = redact_value(key, text, escape_control=False)
    return "\n".join("  " + redact_value(key, line, escape_control=True) for line in str(masked).rstrip("\n").split("\n"))


# The redaction policy. For JSON, control characters are left to the encoder, which escapes
# them; a console line has no encoder to do it.
finish_json = _finisher(escape_control=False)
finish_for_terminal = _finisher(escape_control=True)


def _dumps(value: Any, **_kw: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


def render_json(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> str:
    """The JSON line: structlog's EventRenamer("message") and JSONRenderer, in one call."""
    event_dict["message"] = event_dict.pop("event", None)
    return _dumps(event_dict)


# Who the request is for, as soon as the application knows (a view authenticates the user
# lazily): set by the Django integration, asked only while a line has no user_id yet.
_identity_source: Callable[[], dict[str, Any]] | None = None


def set_identity_source(source: Callable[[], dict[str, Any]] | None) -> None:
    global _identity_source
    _identity_source = source


def request_identity() -> dict[str, Any]:
    """The current request's user_id and trainer_id, where known (empty outside a request)."""
    source = _identity_source
    return source() if source is not None else {}


def add_request_identity(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if _identity_source is not None and event_dict.get("user_id") is None:
        for key, value in _identity_source().items():
            if value is not None and event_dict.get(key) is None:
                event_dict[key] = value
    return event_dict


#: The processors of every line, in structlog's chain for structlog's loggers too.
SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_request_identity,
    add_trace_context,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    add_record_fields,
]


#: What a stdlib record goes through first, and what every sink's event goes through before
#: it is rendered; the same objects for all sinks, so that events.prepared builds it once.
FOREIGN: tuple[Any, ...] = tuple(SHARED)
FINISH_JSON: tuple[Any, ...] = (finish_json,)
FINISH_CONSOLE = (finish_for_terminal,)
