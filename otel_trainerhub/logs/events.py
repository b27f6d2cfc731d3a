"""A record's event dict, built once for every sink that shares its processors.

Each line goes to standard output, maybe ``LOG_FILE``, and OTLP; each of those ran the same
processors (context variables, identity, trace ids, timestamp, extras, redaction) on the
same record, one after the other, in the same thread. The last record's redacted event is
kept per thread, and a sink whose chain is the same object takes a copy of it instead of
building it again. A record with an exception is not kept (its traceback holds frames and
their locals until the thread logs again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Processor", "prepared"]

Processor = Callable[[Any, str, Any], Any]

_last = threading.local()


def prepared(record: logging.LogRecord, logger: Any, method: str, foreign: Sequence[Processor], finish: Sequence[Processor]) -> dict[str, Any]:
    """``record``'s event: from a structlog logger as it logged it, else through ``foreign``;
    then through ``finish``. A new dict each call: the caller may change it."""
    kept = getattr(_last, "event", None)
    if kept is not None and kept[0] is record and kept[1] is finish:
        return dict(kept[2])
    event: Any
    if hasattr(record, "_logger") and isinstance(record.msg, dict):
        event = dict(record.msg)  # structlog's wrap_for_formatter put the event dict there
        event["_record"] = record
        event["_from_structlog"] = True
    else:
        event = {"event": record.getMessage(), "_record": record, "_from_structlog": False}
        if record.exc_info:
            event["exc_info"] = record.exc_info
        if record.stack_info:
            event["stack_info"] = record.stack_info
        for processor in foreign:
            event = processor(logger, method, event)
    for processor in finish:
        event = processor(logger, method, event)
    _last.event = None if record.exc_info else (record, finish, event)
    return dict(event)
