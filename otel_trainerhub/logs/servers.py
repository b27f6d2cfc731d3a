"""Server output that bypasses ``logging``, routed through it so that it is a JSON line too.

daphne writes its access log (``--access-log``, stdout by default) with ``stream.write`` in
an NCSA-like format. Where that stream is the console, each entry becomes a record of the
``daphne.access`` logger instead, with the entry's fields; an access log the project sends
to a file of its own is left as it is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from otel_trainerhub import patches

__all__ = ["route_server_output"]

_access = logging.getLogger("daphne.access")


def _write_entry(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if getattr(instance, "stream", None) not in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        return wrapped(*args, **kwargs)
    entry = dict(zip(("host", "date", "request", "status", "length", "ident", "user"), args)) | kwargs
    _access.info(
        '%s "%s" %s %s',
        entry.get("host"),
        entry.get("request"),
        entry.get("status") or "-",
        entry.get("length") or "-",
        extra={"remote_addr": entry.get("host"), "status_code": entry.get("status"), "size": entry.get("length")},
    )
    return None


def route_server_output() -> None:
    """Once daphne's access module is imported (now, or whenever it is): route its entries."""
    patches.when_imported(
        "daphne.access", "daphne access log", lambda _module: patches.wrap("daphne.access", "AccessLogGenerator.write_entry", _write_entry)
    )
