"""Our own database and Redis checks, used where django-health-check's are not installed:
the ``[health]`` extra brings django-health-check 4.8+, which needs Django 5.2+, so a
Django 4.2 project gets these instead. They follow django-health-check's: ``SELECT 1`` on a
temporary connection, ``PING`` on a client with short socket timeouts, and the same
``get_result()`` shape, so /health/ reads both alike.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import inspect
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

__all__ = ["Check", "CheckFailed", "Database", "Redis", "Result"]


class CheckFailed(Exception):
    """The component answered wrong or not at all; the message is shown in /health/."""

    @property
    def message(self) -> str:
        return str(self)


@dataclasses.dataclass
class Result:
    error: CheckFailed | None


@dataclasses.dataclass
class Check:
    timeout: datetime.timedelta = dataclasses.field(default=datetime.timedelta(seconds=2), init=False)

    def run(self) -> Any:
        raise NotImplementedError

    async def get_result(self, executor: Executor | None = None) -> Result:
        loop = asyncio.get_running_loop()
        work = self.run() if inspect.iscoroutinefunction(self.run) else loop.run_in_executor(executor, self.run)
        try:
            await asyncio.wait_for(work, self.timeout.total_seconds())
        except CheckFailed as exc:
            return Result(exc)
        except asyncio.TimeoutError:
            return Result(CheckFailed(f"timed out after {self.timeout.total_seconds():g}s"))
        except Exception as exc:
            return Result(CheckFailed(exc.__class__.__name__))
        return Result(None)


@dataclasses.dataclass
class Database(Check):
    alias: str = "default"

    def run(self) -> None:
        from django.db import Error, connections

        try:
            with connections[self.alias].temporary_connection() as cursor:
                cursor.execute("SELECT 1")
                row = cursor.fetchone()
        except Error as exc:
            raise CheckFailed(str(exc).split(":", 1)[0].strip()[:200] or exc.__class__.__name__) from None
        if row is None or row[0] != 1:
            raise CheckFailed("SELECT 1 did not return 1")


@dataclasses.dataclass
class Redis(Check):
    client_factory: Callable[[], Any] = dataclasses.field(default=lambda: None)

    async def run(self) -> None:
        from redis.exceptions import RedisError

        client = self.client_factory()
        try:
            await client.ping()
        except (RedisError, OSError) as exc:
            raise CheckFailed(f"Unable to connect to Redis: {exc.__class__.__name__}") from None
        finally:
            await client.aclose()
