"""The guide's health endpoints. None of them is traced, request-logged or counted in RED metrics
(their paths are in OTEL_TRAINERHUB_UNTRACED_PATHS by default)."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from otel_trainerhub.health.checks import Component, components, run_check
from otel_trainerhub.logs.limits import RateLimit

__all__ = ["health", "readiness", "liveness", "system_info"]

_STARTED = time.monotonic()
# Sync checks (the database) run here; a check stuck on a hung server holds one thread,
# never the request, and at most this many at once.
class _ContextExecutor(ThreadPoolExecutor):
    """Runs each check in a copy of the caller's context, so the probe's suppressed
    instrumentation holds in the worker thread too (no stray SELECT 1 traces)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


_executor = _ContextExecutor(max_workers=8, thread_name_prefix="health-check")
_cache_lock = threading.Lock()
_cached: dict[str, tuple[float, int, dict[str, Any]]] = {}
_log = logging.getLogger("otel_trainerhub.health")
# A load balancer probing a down database every second: one "health check failed" line a
# minute (with how many were held back), not one per probe. django-health-check's own
# warnings ("health_check") are limited the same way (logs/limits.py).
_failure_lines = RateLimit(per_minute=1)
_log.addFilter(_failure_lines)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _settings() -> Any:
    from otel_trainerhub import current_settings

    return current_settings()


async def _run_all(found: list[Component]) -> dict[str, dict[str, Any]]:
    timeout = _settings().health_check_timeout
    results = await asyncio.gather(*(run_check(c, _executor, timeout) for c in found))
    return dict(zip((c.name for c in found), results))


def _cached_or(key: str, compute: Any) -> tuple[int, dict[str, Any]]:
    now = time.monotonic()
    with _cache_lock:
        hit = _cached.get(key)
        if hit is not None and now - hit[0] < _settings().health_check_cache_seconds:
            return hit[1], hit[2]
    status, body = compute()
    with _cache_lock:
        _cached[key] = (time.monotonic(), status, body)
    return status, body


def _health_body() -> tuple[int, dict[str, Any]]:
    found = components()
    checks = asyncio.run(_run_all(found))
    required_down = [c.name for c in found if c.required and checks[c.name]["status"] == "unhealthy"]
    optional_down = [c.name for c in found if not c.required and checks[c.name]["status"] == "unhealthy"]
    status = "unhealthy" if required_down else "degraded" if optional_down else "healthy"
    if required_down:
        _log.error("health check failed", extra={"failing": required_down})
    config = _settings()
    body = {
        "status": status,
        "timestamp": _now(),
        "version": config.release_version or "unknown",
        "environment": config.environment,
        "checks": checks,
    }
    return (503 if required_down else 200), body


def health(request: HttpRequest) -> JsonResponse:
    status, body = _cached_or("health", _health_body)
    return JsonResponse(body, status=status)


def _readiness_body() -> tuple[int, dict[str, Any]]:
    found = [c for c in components() if c.name in ("database", "redis")]
    checks = asyncio.run(_run_all(found))
    if checks.get("database", {}).get("status") == "healthy":
        checks["migrations"] = _migrations_applied()
    ready = all(c["status"] == "healthy" for c in checks.values())
    return (200 if ready else 503), {"status": "ready" if ready else "not_ready", "timestamp": _now(), "checks": checks}


def _migrations_applied() -> dict[str, Any]:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as exc:
        return {"status": "unhealthy", "message": exc.__class__.__name__}
    finally:
        connection.close()
    if plan:
        return {"status": "unhealthy", "message": f"{len(plan)} migrations not applied"}
    return {"status": "healthy", "message": "OK"}


def readiness(request: HttpRequest) -> JsonResponse:
    status, body = _cached_or("readiness", _readiness_body)
    return JsonResponse(body, status=status)


def liveness(request: HttpRequest) -> JsonResponse:
    """The process answers: nothing else is touched."""
    return JsonResponse({"status": "alive", "timestamp": _now(), "pid": os.getpid(), "uptime_s": round(time.monotonic() - _STARTED, 1)})


def system_info(request: HttpRequest) -> JsonResponse:
    from otel_trainerhub.instrumentation.django.security import log_security_event

    config = _settings()
    if not settings.DEBUG:
        expected = config.monitoring_key or ""
        given = request.headers.get("X-Monitoring-Key")
        if not given:
            log_security_event("system info: missing monitoring key", request)
            return JsonResponse({"error": "X-Monitoring-Key required"}, status=401)
        # Constant time, and no answer at all while no key is configured.
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            log_security_event("system info: wrong monitoring key", request)
            return JsonResponse({"error": "forbidden"}, status=403)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1].lower()
    cache = "redis" if "redis" in backend else backend.replace("cache", "") or backend
    return JsonResponse(
        {
            "version": config.release_version or "unknown",
            "environment": config.environment,
            "debug": bool(settings.DEBUG),
            "database_engine": engine,
            "cache_backend": cache,
            "installed_apps": list(settings.INSTALLED_APPS),
            "middleware": [m.rsplit(".", 1)[-1] for m in settings.MIDDLEWARE],
        }
    )
