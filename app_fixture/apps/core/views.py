import json
import logging

from django.http import JsonResponse

log = logging.getLogger("apps")


def ping(request):
    return JsonResponse({"ok": True})


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
