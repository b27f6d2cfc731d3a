import logging

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.http import JsonResponse
from otel_trainerhub import business
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.views import json_body

log = logging.getLogger("apps.users")


@csrf_exempt
@require_POST
def register(request):
    data = json_body(request)
    if not data or not data.get("username") or not data.get("password"):
        return JsonResponse({"error": "username and password are required"}, status=400)
    User = get_user_model()
    # A classic mistake, kept on purpose: the whole payload, password included, goes to
    # the log. The redaction policy must catch it.
    log.info("registration received", extra={"payload": data})
    user = User(username=data["username"], email=data.get("email", ""), phone=data.get("phone", ""))
    user.set_password(data["password"])
    token = user.issue_token()
    try:
        user.save()
    except IntegrityError:
        return JsonResponse({"error": "username taken"}, status=409)
    log.info("user registered", extra={"user_id": user.pk})
    business.user_registered()
    return JsonResponse({"id": user.pk, "token": token}, status=201)
