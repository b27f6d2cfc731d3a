"""Which components /health/ checks, built from the project's own settings.

The database and Redis checks are django-health-check's where it is installed (the
``[health]`` extra, Django 5.2+), else ours (``builtin.py``: the same probes); the OTLP
collector probe and the provider configuration checks are ours. Each runs under its own
timeout, all of them concurrently, on a small thread pool of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from otel_trainerhub.health import builtin

try:  # django-health-check 4.8+ (the [health] extra); older ones have another API
    from health_check.checks import Database
    from health_check.contrib.redis import Redis
except ImportError:
    from otel_trainerhub.health.builtin import Database, Redis

# A provider name shown in /health/ -> the Django setting holding its key.
DEFAULT_PROVIDERS = {"sendgrid": "SENDGRID_API_KEY", "twilio": "TWILIO_AUTH_TOKEN", "stripe": "STRIPE_SECRET_KEY"}


@dataclasses.dataclass
class Component:
    """One entry of /health/'s ``checks``: a django-health-check check, or a configuration check."""

    name: str
    required: bool
    check: Any = None  # a django-health-check HealthCheck or a builtin.Check
    configured: Callable[[], bool] | None = None


@dataclasses.dataclass
class TcpEndpoint(builtin.Check):
    """A TCP connection to host:port opens (the OTLP collector's receiver)."""

    url: str = ""

    async def run(self) -> None:
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.open_connection(parts.hostname, port)
        except OSError as exc:
            raise builtin.CheckFailed(f"cannot connect: {exc.strerror or exc.__class__.__name__}") from None
        writer.close()


def _redis_check(url: str) -> Any:
    from redis.asyncio import Redis as AsyncRedis

    # Short socket timeouts: a Redis that accepts and never answers must not hold the check.
    return Redis(client_factory=lambda: AsyncRedis.from_url(url, socket_connect_timeout=1.5, socket_timeout=1.5))


def _cache_redis_url() -> str | None:
    cache = settings.CACHES.get("default", {})
    if "redis" not in cache.get("BACKEND", "").lower():
        return None
    location = cache.get("LOCATION")
    return str(location[0] if isinstance(location, (list, tuple)) else location)


def _broker_url() -> str | None:
    url = getattr(settings, "CELERY_BROKER_URL", None)
    if url is None:
        try:
            from celery import current_app

            url = current_app.conf.broker_url
        except Exception:
            return None
    return url if isinstance(url, str) and url.startswith(("redis://", "rediss://")) else None


def components() -> list[Component]:
    found = [Component("database", required=True, check=Database(alias="default"))]
    cache_url = _cache_redis_url()
    if cache_url:
        found.append(Component("redis", required=True, check=_redis_check(cache_url)))
    broker = _broker_url()
    if broker:
        found.append(Component("celery_broker", required=True, check=_redis_check(broker)))
    from otel_trainerhub import current_settings

    target = current_settings().otlp_target("traces")
    if target is not None:
        collector = target.endpoint
        # Telemetry is not worth taking the app out of the load balancer: reported, not required.
        found.append(Component("otel_collector", required=False, check=TcpEndpoint(url=collector)))
    providers: dict[str, str] = getattr(settings, "TRAINERHUB_HEALTH_PROVIDERS", DEFAULT_PROVIDERS)
    for name, setting in providers.items():
        found.append(Component(name, required=False, configured=_is_set(setting)))
    return found


def _is_set(setting: str) -> Callable[[], bool]:
    return lambda: bool(getattr(settings, setting, "") or os.environ.get(setting, ""))


async def run_check(component: Component, executor: Any, timeout: float) -> dict[str, Any]:
    if component.configured is not None:
        ok = component.configured()
        return {
            "status": "configured" if ok else "not_configured",
            "message": "API key configured" if ok else "API key not configured",
        }
    assert component.check is not None
    component.check.timeout = datetime.timedelta(seconds=timeout)
    try:
        result = await asyncio.wait_for(component.check.get_result(executor), timeout)
    except asyncio.TimeoutError:
        return {"status": "unhealthy", "message": f"timed out after {timeout:g}s"}
    if result.error is None:
        return {"status": "healthy", "message": "OK"}
    return {"status": "unhealthy", "message": str(result.error.message if hasattr(result.error, "message") else result.error)[:200]}
