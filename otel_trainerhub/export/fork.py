"""The fork story, in one module (STYLE §6).

Providers are built once, in whichever process configures first: the gunicorn master under
``--preload``, the Celery worker's main process. Then:

* **Per-process exporters** (:class:`ProcessLocal`): each process builds its own exporter on
  first use, so no HTTP session or gRPC channel crosses a fork. The SDK restarts its batch
  and reader threads in the child (and clears the inherited queues).
* **A fork never waits on the network.** The hazard of forking beside a busy thread is a lock
  held by that thread, inherited held by a child where the thread does not exist. What our
  export threads can hold that a child needs: the SDK's metric aggregation locks, during a
  collection (CPU only, bounded), held under :data:`COLLECTION_GATE`, which ``fork()`` waits
  for at most :data:`FORK_WAIT_S`; module import locks, never taken on the export path after
  :func:`warm_up` ran on the main thread (a test checks that no export outcome imports a
  module); the reader's export lock and our counters' locks, re-made in the child. Network I/O
  holds nothing fork() waits for.
* **Each child is an instance of its own**: its ``process.pid`` (and a user-set
  ``service.instance.id`` kept) stamped on every provider's resource.
* **Exit hooks**: a prefork Celery child leaves through ``os._exit``, where no ``atexit``
  handler runs; Celery's ``worker_process_shutdown`` runs :func:`run_exit_hooks` instead, with
  one overall deadline for the pipelines and Sentry alike.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from opentelemetry.sdk.resources import Resource

from otel_trainerhub import _sdk, contain, patches
from otel_trainerhub.contain import contained
from otel_trainerhub.export.accounting import STATS

__all__ = ["COLLECTION_GATE", "ProcessLocal", "register_exit_hook", "run_exit_hooks", "stamp_in_children", "warm_up"]

T = TypeVar("T")

#: The longest a fork() waits for telemetry (a metric collection in progress).
FORK_WAIT_S = 0.1


class _Gate:
    """Held around each metric collection; fork() waits for it, within :data:`FORK_WAIT_S`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held_for_fork = False
        self.forks_not_waited = 0

    def __enter__(self) -> None:
        self.lock.acquire()

    def __exit__(self, *_: object) -> None:
        self.lock.release()

    def before_fork(self) -> None:
        self.held_for_fork = self.lock.acquire(timeout=FORK_WAIT_S)
        if not self.held_for_fork:
            # A collection slower than the bound (a user's observable callback doing I/O):
            # the fork goes ahead; the child's metric instruments may inherit a held lock.
            self.forks_not_waited += 1

    def after_fork_in_parent(self) -> None:
        if self.held_for_fork:
            self.held_for_fork = False
            self.lock.release()

    def after_fork_in_child(self) -> None:
        self.lock, self.held_for_fork = threading.Lock(), False


COLLECTION_GATE = _Gate()


class ProcessLocal(Generic[T]):
    """One instance per process of what ``factory`` builds, created on first use in each process."""

    def __init__(self, factory: Callable[[], T], instance: T | None = None) -> None:
        self._factory = factory
        self._inner = instance
        self._pid = os.getpid() if instance is not None else -1

    def get(self) -> T:
        # No lock: each holder is used by one export thread at a time (the batch processor
        # serialises exports), and a lock of ours could be inherited held across fork.
        pid = os.getpid()
        if self._inner is None or self._pid != pid:
            self._inner, self._pid = self._factory(), pid
        return self._inner

    def mine(self) -> T | None:
        """This process's instance, if it made one."""
        return self._inner if self._pid == os.getpid() else None


# -- per-child identity --

_stamped: list[Any] = []
_user_instance_id: str | None = None


def stamp_in_children(providers: list[Any], user_instance_id: str | None) -> None:
    """Give each forked child's telemetry (all signals alike) its own ``process.pid``."""
    global _user_instance_id
    _stamped[:] = providers  # a configure() after shutdown() stamps its own providers only
    _user_instance_id = user_instance_id


def _stamp_pid() -> None:
    # The SDK's own after-fork hooks give each child a new service.instance.id (so two
    # workers' cumulative metrics never share a Prometheus series), but not our process.pid
    # (the process detector would also publish the command line, where secrets hide); so we
    # merge the child's pid after the SDK's hooks, and put back an instance id the user set.
    stamp: dict[str, Any] = {"process.pid": os.getpid()}
    if _user_instance_id is not None:
        stamp["service.instance.id"] = _user_instance_id
    for provider in _stamped:
        _sdk.update_resource(provider, Resource(stamp))


# -- exit hooks --

_exit_hooks: list[Callable[[float], object]] = []


def register_exit_hook(hook: Callable[[float], object], *, first: bool = False) -> None:
    """``hook(seconds_left)`` runs when a process that cannot rely on ``atexit`` leaves."""
    if hook not in _exit_hooks:
        _exit_hooks.insert(0, hook) if first else _exit_hooks.append(hook)


def unregister_exit_hook(hook: Callable[[float], object]) -> None:
    if hook in _exit_hooks:
        _exit_hooks.remove(hook)


def run_exit_hooks(timeout: float) -> None:
    """Run every exit hook, all of them within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for hook in list(_exit_hooks):
        with contained("exit hook"):
            hook(max(0.05, deadline - time.monotonic()))


def connect_celery_child_exit(timeout: float) -> None:
    """Run the exit hooks on Celery's ``worker_process_shutdown`` (a prefork child's last
    moment before ``os._exit``), where Celery is installed."""
    try:
        from celery import signals
    except ImportError:
        return

    def child_exit(**_: Any) -> None:
        run_exit_hooks(timeout)

    patches.connect(signals.worker_process_shutdown, child_exit, "celery.child_exit")


def connect_uvicorn_shutdown(timeout: float) -> None:
    """Run the exit hooks once uvicorn's server has shut down. uvicorn then re-raises the
    signal it stopped on (SIGTERM, SIGINT), so the process dies of it and ``atexit`` never
    runs; by then the server has stopped serving, so the flush delays no request."""
    async def after_shutdown(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            return await wrapped(*args, **kwargs)
        finally:
            run_exit_hooks(timeout)

    # uvicorn may be imported later (gunicorn's uvicorn worker imports it in the worker).
    patches.when_imported(
        "uvicorn.server", "uvicorn shutdown", lambda _module: patches.wrap("uvicorn.server", "Server.shutdown", after_shutdown)
    )


# -- the at-fork hooks, registered once per process --

_registered = False


def register_at_fork() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    os.register_at_fork(
        before=COLLECTION_GATE.before_fork,
        after_in_parent=COLLECTION_GATE.after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def _after_fork_in_child() -> None:
    COLLECTION_GATE.after_fork_in_child()
    STATS.reset_in_child()
    contain.reset_in_child()
    _stamp_pid()


def warm_up(classes: Iterable[Any] = ()) -> None:
    """Import, on the main thread before any fork, what the export path would import lazily
    (``classes``: the exporters' own modules, imported by naming them): an import half done by
    an export thread at fork time leaves its module lock held in the child.
    ``tests/unit/test_fork.py`` checks that no export outcome imports anything after this."""
    import http.client  # noqa: F401
    import json  # noqa: F401
    import netrc  # noqa: F401  (requests looks for credentials in ~/.netrc on each request)
    import shlex  # noqa: F401

    for _ in classes:
        pass

    "localhost".encode("idna")
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics  # noqa: F401
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    encode_spans([]).SerializeToString()
    _sdk.encode_no_logs()
    try:
        import requests
        import urllib3.util.retry  # noqa: F401

        # What a failed or refused response reads: its text (charset detection), its JSON.
        response = requests.models.Response()
        response._content, response.status_code = b'{"x": "\xc3\xa9"}', 400
        response.text, response.json()
        requests.exceptions.ConnectionError("warm up")
    except ImportError:  # gRPC only
        pass
