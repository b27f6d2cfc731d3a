"""Task log lines carry task_id and task_name, and the request's context follows the task."""

from __future__ import annotations

from typing import Any

import structlog

HEADER = "trainerhub_log_context"
_CARRIED = ("request_id", "user_id", "trainer_id")
_receivers: list[tuple[Any, Any]] = []


def _keep_our_logging(**_: Any) -> None:
    # Connected at all, this receiver stops Celery from configuring logging itself.
    from otel_trainerhub.logs import setup

    setup.reapply()


def _carry_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    context = structlog.contextvars.get_contextvars()
    carried = {k: context[k] for k in _CARRIED if context.get(k) is not None}
    if carried:
        headers[HEADER] = carried


def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    carried = getattr(getattr(task, "request", None), HEADER, None)
    structlog.contextvars.bind_contextvars(
        task_id=task_id, task_name=getattr(task, "name", None), **(carried if isinstance(carried, dict) else {})
    )


def _unbind_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def connect() -> None:
    from celery import signals

    if _receivers:
        return
    for signal, receiver in (
        (signals.setup_logging, _keep_our_logging),
        (signals.before_task_publish, _carry_context),
        (signals.task_prerun, _bind_task),
        (signals.task_postrun, _unbind_task),
    ):
        signal.connect(receiver, weak=False)
        _receivers.append((signal, receiver))


def disconnect() -> None:
    while _receivers:
        signal, receiver = _receivers.pop()
        signal.disconnect(receiver)
