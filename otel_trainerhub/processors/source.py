"""Where in the application a statement came from, found only when it is worth the walk."""

from __future__ import annotations

import os
import sys
import sysconfig
from contextvars import ContextVar
from types import CodeType, FrameType

_LIBRARY_ROOTS = tuple(
    {os.path.realpath(p) + os.sep for p in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]) if p}
)
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
_cache: dict[str, bool] = {}


def _is_application(filename: str) -> bool:
    known = _cache.get(filename)
    if known is None:
        path = os.path.realpath(filename)
        known = not (
            filename.startswith("<")
            or path.startswith(_PACKAGE_ROOT)
            or path.startswith(_LIBRARY_ROOTS)
            or "site-packages" in path
            or "dist-packages" in path
        )
        _cache[filename] = known
    return known


#: The application frames of the coroutine that awaits a ``sync_to_async`` hop, set around
#: asgiref's ``SyncToAsync.__call__`` (instrumentation/django): in the hop's thread, the code
#: that really called is that coroutine (an async view awaiting the async ORM), not what the
#: thread's own stack holds further out (a sync middleware waiting in ``async_to_sync``).
AWAITING: ContextVar[list[FrameType] | None] = ContextVar("otel_trainerhub_awaiting", default=None)
_hop_boundary: CodeType | None = None


def hop_boundary(code: CodeType) -> None:
    """Where a ``sync_to_async`` thread's own stack begins (asgiref's ``thread_handler``)."""
    global _hop_boundary
    _hop_boundary = code


def application_frames(skip: int = 1, limit: int = 8) -> list[FrameType]:
    """The callers outside the libraries, innermost first, at most ``limit`` of them; in a
    ``sync_to_async`` thread, those inside the hop, then those of the coroutine awaiting it."""
    found: list[FrameType] = []
    frame: FrameType | None = sys._getframe(skip + 1)
    boundary = _hop_boundary
    while frame is not None and len(found) < limit:
        code = frame.f_code
        if code is boundary:
            awaiting = AWAITING.get()
            if awaiting is not None:
                found.extend(awaiting[: limit - len(found)])
                break
        if _is_application(code.co_filename):
            found.append(frame)
        frame = frame.f_back
    return found


def describe(frame: FrameType) -> str:
    """``path:line`` where ``frame`` is now, relative to the working directory."""
    filename = frame.f_code.co_filename
    try:
        shown = os.path.relpath(filename)
    except ValueError:
        shown = filename
    if shown.startswith(".."):
        shown = filename
    return f"{shown}:{frame.f_lineno}"


def repeating_frame(earlier: list[FrameType], now: list[FrameType]) -> FrameType | None:
    """The innermost application frame running both times (the loop that repeats a call):
    a frame object alive across two of the calls, where the frames inside it are new each time."""
    for frame in now:
        if any(frame is seen for seen in earlier):
            return frame
    return None
