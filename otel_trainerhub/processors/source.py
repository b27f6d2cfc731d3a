"""Where in the application a statement came from, found only when it is worth the walk."""

from __future__ import annotations

import os
import sys
import sysconfig
from types import FrameType

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


def application_frame(skip: int = 1) -> str | None:
    """``path:line`` of the innermost caller outside the libraries, relative to the working directory."""
    frame: FrameType | None = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if _is_application(filename):
            try:
                shown = os.path.relpath(filename)
            except ValueError:
                shown = filename
            if shown.startswith(".."):
                shown = filename
            return f"{shown}:{frame.f_lineno}"
        frame = frame.f_back
    return None
