"""Async views and streaming responses: what an ASGI deployment serves (config/asgi.py).

Not driven by traffic.py; tests/integration/test_asgi.py requests them under uvicorn.
"""

import asyncio

from asgiref.sync import sync_to_async
from django.http import JsonResponse, StreamingHttpResponse

from apps.trainers.models import Trainer
from apps.users.models import User


def _bounded(request, name, default, top):
    try:
        return max(0, min(int(request.GET.get(name, default)), top))
    except ValueError:
        return default


async def trainers(request):
    """The directory's N+1, written with the async ORM: one query per trainer for its user."""
    names = []
    async for trainer in Trainer.objects.order_by("id")[:10]:
        user = await User.objects.aget(pk=trainer.user_id)
        names.append(user.get_full_name())
    # A hop to sync code and back, as a view calling a sync helper does.
    count = await sync_to_async(Trainer.objects.count)()
    return JsonResponse({"trainers": names, "count": count})


async def interleaved(request):
    """``queries`` queries with a pause before each: concurrent requests interleave on one loop."""
    queries = _bounded(request, "queries", 3, 50)
    pause = _bounded(request, "pause_ms", 20, 2000) / 1000
    for _ in range(queries):
        await asyncio.sleep(pause)
        await Trainer.objects.order_by("id").afirst()
    return JsonResponse({"queries": queries})


async def fail(request):
    raise RuntimeError("async view failed on purpose")


def stream(request):
    """A sync streaming response: one query per chunk, run while the response is sent."""
    chunks = _bounded(request, "chunks", 3, 100)
    fail_at = _bounded(request, "fail_at", 0, 100) if "fail_at" in request.GET else None  # the chunk that fails, if any

    def rows():
        for i in range(chunks):
            if i == fail_at:
                raise RuntimeError(f"stream failed on purpose at chunk {i}")
            trainer = Trainer.objects.order_by("id")[i % 5 : i % 5 + 1].first()
            yield f"{i},{trainer.pk if trainer else ''}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")


async def async_stream(request):
    """An async streaming response with a pause per chunk (long enough to disconnect mid-way)."""
    chunks = _bounded(request, "chunks", 3, 100)
    pause = _bounded(request, "pause_ms", 10, 2000) / 1000

    async def rows():
        for i in range(chunks):
            await asyncio.sleep(pause)
            trainer = await Trainer.objects.order_by("id").afirst()
            yield f"{i},{trainer.pk if trainer else ''}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")
