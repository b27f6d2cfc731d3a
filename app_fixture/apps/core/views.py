import json
import logging

from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse

log = logging.getLogger("apps")


def ping(request):
    return JsonResponse({"ok": True})


def liveness(request):
    return JsonResponse({"status": "alive"})


def health(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"status": "healthy", "message": "OK"}
    except Exception as exc:
        checks["database"] = {"status": "unhealthy", "message": exc.__class__.__name__}
    try:
        cache.set("health:probe", "1", 5)
        checks["cache"] = {"status": "healthy" if cache.get("health:probe") == "1" else "unhealthy", "message": "OK"}
    except Exception as exc:
        checks["cache"] = {"status": "unhealthy", "message": exc.__class__.__name__}
    healthy = all(c["status"] == "healthy" for c in checks.values())
    return JsonResponse({"status": "healthy" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)


def json_body(request):
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def login_required_json(view):
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"error": "authentication required"}, status=401)
        return view(request, *args, **kwargs)

    wrapper.__name__ = view.__name__
    return wrapper
