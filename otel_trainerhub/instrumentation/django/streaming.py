"""The server span lasts as long as the response does: streaming responses, and ASGI
requests whose client left before the view returned.

contrib's middleware ends the server span when the view returns its response; for a
``StreamingHttpResponse`` (or a ``FileResponse``) that is before a byte has been sent, and
whatever the stream's iterator does (SQL, cache, outbound HTTP) would land in traces of its
own. Here the span's end is deferred to when the stream ends, whichever comes first:

- the iterator is exhausted, raises, or is closed (sync and async iterators alike);
- the response is closed (the WSGI server or Django's ASGI handler closes every response,
  also one whose client went away before the stream started).

Each step of the iterator runs with the server span current, so its child spans land under
the request, and attribution counts them.

Under ASGI, a client that disconnects while the view runs makes Django cancel the view: no
response, so contrib's middleware never ends the span (it stayed open until the process
exited). Django still sends ``request_finished``; the request it finished is kept from
``ASGIHandler.create_request``, and a span still open on it is ended there, with a
``client disconnected`` event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.trace import Span, set_span_in_context

from otel_trainerhub.attributes import REQUEST_ABANDONED
from otel_trainerhub.contain import contained
from otel_trainerhub.failure import record_failure

__all__ = ["defer_end_until_streamed", "end_abandoned_requests"]

_asgi_request: ContextVar[Any] = ContextVar("otel_trainerhub_asgi_request", default=None)


class _Deferred:
    """The span's real end, run once, at the first of the stream's ends."""

    __slots__ = ("_span", "_end", "_lock", "done")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._end = span.end
        self._lock = threading.Lock()
        self.done = False

    def __call__(self, end_time: int | None = None) -> None:
        # contrib's activation calls span.end() when the view returns: not yet.
        pass

    def failed(self, error: Exception) -> None:
        """The stream raised: the response was cut short, the request failed (as use_span marks it)."""
        with contained("streaming span status"):
            record_failure(self._span, error)

    def finish(self) -> None:
        with self._lock:
            if self.done:
                return
            self.done = True
        with contained("streaming span end"):
            vars(self._span).pop("end", None)  # the class's end() again
            self._end()


def defer_end_until_streamed(span: Span, response: Any) -> None:
    """For a streaming ``response``: end ``span`` when the stream ends, not now."""
    if not getattr(response, "streaming", False) or not hasattr(span, "__dict__"):
        return
    deferred = _Deferred(span)
    context = set_span_in_context(span)
    original = response.streaming_content
    if getattr(response, "is_async", False):
        response.streaming_content = _async_stream(original, context, deferred)
    else:
        response.streaming_content = _stream(original, context, deferred)
    close = response.close

    def closing() -> None:
        try:
            close()
        finally:
            deferred.finish()

    response.close = closing
    span.end = deferred  # type: ignore[method-assign]


class _Step:
    """One step of the stream's iterator, with the server span current; an error it raises
    marks the span failed. Steps run one after another, so one instance serves them all."""

    __slots__ = ("_context", "_deferred", "_token")

    def __init__(self, context: Any, deferred: _Deferred) -> None:
        self._context = context
        self._deferred = deferred

    def __enter__(self) -> None:
        self._token = context_api.attach(self._context)

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        context_api.detach(self._token)
        if isinstance(error, Exception):
            self._deferred.failed(error)


_END: Any = object()  # the iterator's end: next()'s and anext()'s default


def _stream(content: Iterator[bytes], context: Any, deferred: _Deferred) -> Iterator[bytes]:
    step = _Step(context, deferred)
    try:
        while True:
            with step:
                chunk = next(content, _END)
            if chunk is _END:
                return
            yield chunk
    finally:
        close = getattr(content, "close", None)
        try:
            if close is not None:
                close()
        finally:
            deferred.finish()


async def _async_stream(content: AsyncIterator[bytes], context: Any, deferred: _Deferred) -> AsyncIterator[bytes]:
    iterator = content.__aiter__()
    step = _Step(context, deferred)  # an async generator step runs in the awaiting task's context
    try:
        while True:
            with step:
                chunk = await anext(iterator, _END)
            if chunk is _END:
                return
            yield chunk
    finally:
        aclose = getattr(iterator, "aclose", None)
        try:
            if aclose is not None:
                await aclose()
        finally:
            deferred.finish()


def _remember_request(wrapped: Callable[..., Any], instance: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    request, error_response = wrapped(*args, **kwargs)
    _asgi_request.set(request)  # in the handler's task: what request_finished runs in on a cancel
    return request, error_response


class _DetachFailureHere(logging.Filter):
    """Holds back OpenTelemetry's "Failed to detach context" record of this thread only."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.thread == threading.get_ident() and record.getMessage().startswith("Failed to detach context"))


def end_abandoned_requests(span_key: str, activation_key: str) -> None:
    """End the server span of an ASGI request whose view was cancelled (undone by shutdown())."""
    from django.core.signals import request_finished

    from otel_trainerhub import patches

    context_log = logging.getLogger("opentelemetry.context")

    def finished(**_: Any) -> None:
        request = _asgi_request.get()
        if request is None:
            return
        with contained("abandoned request span"):
            span = request.META.pop(span_key, None)  # still there: contrib's process_response never ran
            activation = request.META.pop(activation_key, None)
            if span is None or activation is None:
                return
            if span.is_recording():
                span.add_event("client disconnected", {REQUEST_ABANDONED: True})
            # Leave use_span as contrib would have: it ends the span. Its context token was
            # made in the cancelled thread's context, which is gone: resetting it can only
            # fail, and would be logged as an error (here, or when the activation is
            # collected at exit).
            hold_back = _DetachFailureHere()
            context_log.addFilter(hold_back)
            try:
                activation.__exit__(None, None, None)
            finally:
                context_log.removeFilter(hold_back)

    patches.wrap("django.core.handlers.asgi", "ASGIHandler.create_request", _remember_request)
    patches.connect(request_finished, finished, "request_finished.abandoned")
