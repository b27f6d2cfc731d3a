"""Task log lines carry task_id and task_name, and the request's context follows the task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from otel_trainerhub import patches

HEADER = "trainerhub_log_context"
_CARRIED = ("request_id", "user_id", "trainer_id")
_LABELS = ("celery.keep_our_logging", "celery.redirect_stdouts", "celery.carry_context", "celery.bind_task", "celery.unbind_task")


def _keep_our_logging(**_: Any) -> None:
    # Connected at all, this receiver stops Celery from configuring logging itself.
    from otel_trainerhub.logs import setup

    setup.reapply()


def _redirect_stdouts(instance: Any = None, **_: Any) -> None:
    # Our setup_logging receiver makes Celery skip its own logging set-up, and with it the
    # redirect of stdout and stderr (worker_redirect_stdouts, on by default): a task's print()
    # would then be written raw between the JSON lines. Redirect as Celery would have.
    if instance is not None and getattr(instance, "redirect_stdouts", False):
        instance.app.log.redirect_stdouts(instance.redirect_stdouts_level)


def _carry_context(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is None:
        return
    from otel_trainerhub.logs import chain

    # The user as known now (the view authenticated them), not only what was bound earlier.
    context = {**structlog.contextvars.get_contextvars(), **{k: v for k, v in chain.request_identity().items() if v is not None}}
    carried = {k: context[k] for k in _CARRIED if context.get(k) is not None}
    if carried:
        headers[HEADER] = carried


#: task id -> the log context an eager task started in (a request's), put back when it ends.
_outer: dict[str, dict[str, Any]] = {}


def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    if getattr(request, "is_eager", False) and task_id is not None:
        # Run in-process (CELERY_TASK_ALWAYS_EAGER): its lines are the request's lines too,
        # request_id included, and the request's own lines after it keep theirs.
        if len(_outer) >= 1024:
            _outer.clear()
        _outer[task_id] = structlog.contextvars.get_contextvars()
        structlog.contextvars.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))
        return
    structlog.contextvars.clear_contextvars()
    carried = getattr(request, HEADER, None)
    structlog.contextvars.bind_contextvars(
        task_id=task_id, task_name=getattr(task, "name", None), **(carried if isinstance(carried, dict) else {})
    )


def _unbind_task(task_id: str | None = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    outer = _outer.pop(task_id, None) if task_id is not None else None
    if outer:
        structlog.contextvars.bind_contextvars(**outer)


def _say_as_json(msg: str, f: Any = None) -> None:
    """Celery's signal-time notices ("worker: Warm shutdown"), as a JSON line like every other.

    Celery writes them with a bare ``os.write`` because they happen inside signal
    handlers, where logging's locks are unsafe; this keeps that (one write, no locks).
    """
    import datetime
    import os
    import sys

    import orjson

    stream: Any = f if f is not None else sys.__stderr__
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    line = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "levelname": "WARNING",
        "name": "celery.apps.worker",
        "message": str(msg).strip(),
    }
    os.write(fd, orjson.dumps(line) + b"\n")


def _banner_as_json(self: Any) -> None:
    """The worker's start-up banner (printed raw to ``sys.__stdout__`` unless ``--quiet``), as
    one INFO line: its text, without the ASCII art and colours, in ``banner``."""
    import logging

    try:
        banner = self.startup_info(artlines=False).strip("\n")
    except Exception:  # an unusual worker class: say that it started, without the details
        banner = ""
    logging.getLogger("celery.apps.worker").info("celery worker starting", extra={"banner": banner})


def _patch_worker_output(module: Any) -> None:
    patches.replace(module, "safe_say", _say_as_json)
    patches.replace(module.Worker, "emit_banner", _banner_as_json)


def connect() -> None:
    from celery import signals

    # celery.apps.worker is imported by the worker command, after us: patched when it is
    # (at once if it is already imported).
    patches.when_imported("celery.apps.worker", "celery worker output", _patch_worker_output)
    receivers: tuple[Callable[..., Any], ...] = (_keep_our_logging, _redirect_stdouts, _carry_context, _bind_task, _unbind_task)
    for signal, receiver, label in zip(
        (signals.setup_logging, signals.celeryd_after_setup, signals.before_task_publish, signals.task_prerun, signals.task_postrun),
        receivers,
        _LABELS,
    ):
        patches.connect(signal, receiver, label)


def disconnect() -> None:
    patches.undo("import celery worker output")
    for label in _LABELS:
        patches.undo(f"signal {label}")
    patches.undo("replace celery.apps.worker.safe_say")
    patches.undo("replace Worker.emit_banner")
