"""One logging setup for the whole process, through structlog.

Every record, from the stdlib loggers of Django, Celery, gunicorn and the application or
from structlog loggers, goes through the same processors and comes out in one format:

``{"timestamp": "...Z", "levelname": "INFO", "name": "apps.bookings", "message": "...",
"trace_id": ..., "span_id": ..., "request_id": ..., <fields>}``

Sinks: standard output (JSON, or a console renderer for a developer's terminal), an
optional size-rotated file (``LOG_FILE``), and OTLP log records when an endpoint is set.
The redaction policy (``otel_trainerhub.redaction``) runs on every sink.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

from otel_trainerhub.logs import events, limits, servers
from otel_trainerhub.parsing import ConfigError
from otel_trainerhub.redaction import redact_value
from otel_trainerhub.settings import Settings

__all__ = ["configure_logging", "reapply", "json_formatter", "set_otlp_handler"]

# Keys we set ourselves: trusted, never scanned by the redaction pass.
_OWN_KEYS = frozenset(
    {"timestamp", "levelname", "name", "trace_id", "span_id", "request_id", "task_id", "task_name", "user_id", "trainer_id",
     "duration_ms", "status_code", "method", "db_queries", "db_time", "pid"}
)
# Logger names whose console handlers other set-ups (Django's, gunicorn's, uvicorn's) install: ours
# replace those (one format on stdout); their other handlers (Django's AdminEmailHandler that
# mails 500s to ADMINS, a file of the project's) are the host's, and stay.
_TAKEN_OVER = (
    "django", "django.server", "django.request", "celery", "gunicorn.error", "gunicorn.access",
    "uvicorn", "uvicorn.error", "uvicorn.access", "daphne", "daphne.server", "daphne.http_protocol",
)

_configured: Settings | None = None
_handlers: list[logging.Handler] = []


def add_trace_context(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def add_levelname(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    if record is not None:
        event_dict["levelname"] = record.levelname
    else:
        event_dict["levelname"] = {"warn": "WARNING", "exception": "ERROR", "msg": "INFO"}.get(method_name, method_name.upper())
    return event_dict


def add_logger_name(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    record = event_dict.get("_record")
    event_dict["name"] = record.name if record is not None else getattr(logger, "name", "")
    return event_dict


def _redactor(*, escape_control: bool) -> Any:
    def redact(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if key not in _OWN_KEYS and value is not None and not isinstance(value, (bool, int, float)):
                if escape_control and key in _MULTILINE_KEYS and isinstance(value, str):
                    event_dict[key] = _indented(key, value)
                else:
                    event_dict[key] = redact_value(key, value, escape_control=escape_control)
        return event_dict

    return redact


# On a terminal a traceback reads line by line: its lines are kept apart, each indented, so
# that no line of it (an exception message's own newline included) can pass for a log line,
# which starts at the margin with its timestamp. Other control characters are escaped.
_MULTILINE_KEYS = frozenset({"exception", "stack"})


def _indented(key: str, text: str) -> str:
    masked = redact_value(key, text, escape_control=False)
    return "\n".join("  " + redact_value(key, line, escape_control=True) for line in str(masked).rstrip("\n").split("\n"))


# The redaction policy. For JSON, control characters are left to the encoder, which escapes
# them; a console line has no encoder to do it.
redact = _redactor(escape_control=False)
redact_for_terminal = _redactor(escape_control=True)


def _dumps(value: Any, **_kw: Any) -> str:
    return orjson.dumps(value, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


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


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    add_request_identity,
    add_trace_context,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    add_levelname,
    add_logger_name,
]


_NOT_STRUCTLOG = object()
# Extras meant for a terminal only: uvicorn's message again with ANSI colour codes.
_CONSOLE_FIELDS = ("color_message",)


def drop_console_fields(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in _CONSOLE_FIELDS:
        event_dict.pop(key, None)
    return event_dict


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ProcessorFormatter, minus a copy of every record and a second formatting pass.

    The original copies each record (``logging.makeLogRecord``) so that it can overwrite the
    copy's message and exception fields, then renders it again through ``logging.Formatter``;
    our processors only read the record and the renderer's string is the line, so the line
    is returned as is and the record is never changed (the other handlers see it whole).
    About a sixth of a request log line's instructions (callgrind: 268k -> 224k).
    """

    def __init__(self, *, finish: tuple[Any, ...], render: tuple[Any, ...]) -> None:
        super().__init__(foreign_pre_chain=list(FOREIGN), processors=[*finish, *render])
        self._finish, self._render = finish, render

    def format(self, record: logging.LogRecord) -> str:
        logger: Any = getattr(record, "_logger", _NOT_STRUCTLOG)
        method = getattr(record, "_name", None)
        if logger is not _NOT_STRUCTLOG and method is not None:  # from a structlog logger
            if self.logger is not None:
                logger = self.logger
        else:
            logger, method = self.logger, record.levelname.lower()
        event: Any = events.prepared(record, logger, method, FOREIGN, self._finish)
        for processor in self._render:
            event = processor(logger, method, event)
        return str(event)


#: What a stdlib record goes through first, and what every sink's event goes through before
#: it is rendered; the same objects for all sinks, so that events.prepared builds it once.
FOREIGN: tuple[Any, ...] = (*_SHARED, structlog.stdlib.ExtraAdder(), drop_console_fields)
FINISH_JSON: tuple[Any, ...] = (structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.format_exc_info, redact)
_FINISH_CONSOLE = (*FINISH_JSON[:2], redact_for_terminal)


def json_formatter(log_format: str = "json") -> structlog.stdlib.ProcessorFormatter:
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(event_key="message", timestamp_key="timestamp", colors=False)
    )
    return _Formatter(
        finish=FINISH_JSON if log_format == "json" else _FINISH_CONSOLE, render=(structlog.processors.EventRenamer("message"), renderer)
    )


def _file_handler(settings: Settings) -> logging.Handler:
    from concurrent_log_handler import ConcurrentRotatingFileHandler

    assert settings.log_file is not None
    directory = os.path.dirname(os.path.abspath(settings.log_file))
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ConfigError("LOG_FILE", settings.log_file, f"a file this process can create and write ({directory} is not a directory)")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(settings.log_file, "a"):  # the handler opens lazily: find out now
            pass
        # Safe across the processes of gunicorn and Celery: rotation takes a file lock.
        return ConcurrentRotatingFileHandler(
            settings.log_file, maxBytes=settings.log_file_max_bytes, backupCount=settings.log_file_backup_count, use_gzip=False
        )
    except OSError as exc:  # one line naming the variable, not a traceback from the handler
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError("LOG_FILE", settings.log_file, f"a file this process can create and write ({reason})") from None


def configure_logging(settings: Settings, otlp_handler: logging.Handler | None = None) -> None:
    """Install the handlers on the root logger and configure structlog. Idempotent, except
    for the OTLP handler: a configure() after shutdown() brings its own (see set_otlp_handler)."""
    global _configured
    if _configured is not None:
        set_otlp_handler(otlp_handler)
        return
    _configured = settings
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(json_formatter(settings.log_format))
    _handlers.append(stream)
    if settings.log_file:
        file_handler = _file_handler(settings)
        file_handler.setFormatter(json_formatter("json"))
        _handlers.append(file_handler)
    if otlp_handler is not None:
        _handlers.append(otlp_handler)

    level = logging.getLevelName(settings.log_level)
    # structlog's LoggerFactory sets logging's logger class for the whole process (its
    # findCaller, which skips structlog's frames): every logger the host creates later would
    # get it, and pay its dearer caller lookup on every record. The host's class stays.
    host_logger_class = logging.getLoggerClass()
    logger_factory = structlog.stdlib.LoggerFactory()
    logging.setLoggerClass(host_logger_class)
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.PositionalArgumentsFormatter(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=logger_factory,
        # Calls below the level are dropped before any processor runs.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if settings.debug_logging else level),
        cache_logger_on_first_use=True,
    )
    limits.install()
    # Python's warnings become JSON lines (logger py.warnings) like everything else.
    logging.captureWarnings(True)
    servers.route_server_output()
    reapply()


def set_otlp_handler(handler: logging.Handler | None) -> None:
    """Replace the OTLP handler (None: remove it, as shutdown() does with its provider)."""
    root = logging.getLogger()
    for old in [h for h in _handlers if getattr(h, "otlp", False)]:
        _handlers.remove(old)
        root.removeHandler(old)
        for name in _TAKEN_OVER:
            logging.getLogger(name).removeHandler(old)
    if handler is not None:
        _handlers.append(handler)
        if _configured is not None:
            reapply()


def _writes_to_console(handler: logging.Handler) -> bool:
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    return handler.stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)


def reapply() -> None:
    """(Re)install our handlers after another library configured logging (Django, gunicorn)."""
    settings = _configured
    if settings is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        # The project's own root handlers (a file, a mail handler) stay; a console one is ours to take.
        if handler not in _handlers and _writes_to_console(handler):
            root.removeHandler(handler)
    for handler in _handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in _TAKEN_OVER:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if _writes_to_console(handler):
                logger.removeHandler(handler)
        if not logger.propagate:
            # gunicorn's and django.server's loggers do not propagate: ours go on them directly,
            # so the project's root handlers see no more than they did without us.
            for handler in _handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
    # The guide's categories; DEBUG_LOGGING=true is its Debug Mode for the application.
    logging.getLogger("apps").setLevel(logging.DEBUG if settings.debug_logging else logging.NOTSET)
    logging.getLogger("django.db.backends").setLevel(logging.INFO)  # never log SQL with parameters


def reset_for_tests() -> None:
    global _configured
    root = logging.getLogger()
    for handler in _handlers:
        root.removeHandler(handler)
        for name in _TAKEN_OVER:
            logging.getLogger(name).removeHandler(handler)
    _handlers.clear()
    _configured = None
    limits.uninstall()
    logging.captureWarnings(False)
    structlog.reset_defaults()
