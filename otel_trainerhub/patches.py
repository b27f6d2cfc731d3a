"""Every change otel_trainerhub makes to other code, recorded so that ``shutdown()`` undoes
it exactly (STYLE §2): wrappers, replaced attributes, signal receivers. The contrib
instrumentors undo their own patches in their ``uninstrument()``.

``active()`` lists what is in place, for the test that enumerates them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

__all__ = ["active", "connect", "replace", "undo_all", "when_imported", "wrap"]

_undo: dict[str, Callable[[], None]] = {}


def wrap(module: str, path: str, wrapper: Callable[..., Any]) -> None:
    """``wrapt``-wrap ``module.path`` (``"Class.method"`` or ``"function"``), once."""
    key = f"wrap {module}.{path}"
    if key in _undo:
        return
    wrapt.wrap_function_wrapper(module, path, wrapper)
    owner_path, _, name = path.rpartition(".")

    def undo() -> None:
        owner: Any = importlib.import_module(module)
        for part in filter(None, owner_path.split(".")):
            owner = getattr(owner, part)
        unwrap(owner, name)

    _undo[key] = undo


def replace(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name`` to ``value``, once; the original comes back at undo."""
    key = f"replace {getattr(owner, '__name__', type(owner).__name__)}.{name}"
    if key in _undo:
        return
    missing = object()
    original = owner.__dict__.get(name, missing) if hasattr(owner, "__dict__") else getattr(owner, name, missing)
    setattr(owner, name, value)

    def undo() -> None:
        if original is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    _undo[key] = undo


def connect(signal: Any, receiver: Callable[..., Any], label: str, sender: Any = None) -> None:
    """Connect a Django or Celery signal receiver (held strongly), once."""
    key = f"signal {label}"
    if key in _undo:
        return
    uid = f"otel_trainerhub.{label}"
    signal.connect(receiver, sender=sender, weak=False, dispatch_uid=uid)
    _undo[key] = lambda: signal.disconnect(receiver, sender=sender, dispatch_uid=uid)


def when_imported(module: str, label: str, apply: Callable[[Any], None]) -> None:
    """Run ``apply(module)`` when ``module`` is imported (at once if it already is), once, unless
    undone first: wrapt cannot unregister an import hook, so undoing disarms it, and what
    ``apply`` changed is undone through its own ``wrap``/``replace`` entries."""
    key = f"import {label}"
    if key in _undo:
        return
    _undo[key] = lambda: None

    def hook(imported: Any) -> None:
        if key in _undo:
            apply(imported)

    wrapt.register_post_import_hook(hook, module)


def undo(key: str) -> None:
    action = _undo.pop(key, None)
    if action is not None:
        action()


def undo_all() -> None:
    """Undo every recorded change, the latest first."""
    for key in reversed(list(_undo)):
        undo(key)


def active() -> list[str]:
    return list(_undo)
