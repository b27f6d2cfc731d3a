"""The async ORM's hops to a thread: where the N+1 finder looks for the code that called.

Django's async ORM (``aget``, ``afirst``, ``async for``) runs each query through asgiref's
``sync_to_async`` in a worker thread, whose stack does not hold the awaiting coroutine (the
async view and its loop). Around each hop the awaiting application frames are kept in a
context variable that asgiref copies into the thread, for ``processors/source.py``; the
walk costs a few microseconds per hop, next to the thread hand-off it accompanies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from otel_trainerhub import patches
from otel_trainerhub.processors.source import AWAITING, application_frames, hop_boundary

__all__ = ["remember_awaiting_frames"]


async def _remembering(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # The frames are walked here, while the awaiting coroutines are running: a suspended
    # coroutine's frame no longer links to the one awaiting it.
    token = AWAITING.set(application_frames(1))
    try:
        return await wrapped(*args, **kwargs)
    finally:
        AWAITING.reset(token)


def remember_awaiting_frames() -> None:
    """Wrap asgiref's ``SyncToAsync.__call__`` (undone by ``shutdown()``)."""
    from asgiref.sync import SyncToAsync

    hop_boundary(SyncToAsync.thread_handler.__code__)
    patches.wrap("asgiref.sync", "SyncToAsync.__call__", _remembering)
