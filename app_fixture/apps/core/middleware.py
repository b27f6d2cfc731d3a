import otel_trainerhub
from django.contrib.auth import get_user_model
from django.utils.functional import SimpleLazyObject

from apps.users.models import hash_token


def _user_for(token: str):
    User = get_user_model()
    # The trainer profile comes in the same query: views and telemetry both use it.
    return User.objects.select_related("trainer_profile").filter(api_token_hash=hash_token(token), is_active=True).first()


class TokenAuthMiddleware:
    """API clients authenticate with ``Authorization: Bearer <token>``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[7:].strip()
            request.user = SimpleLazyObject(lambda: _user_for(token) or _rejected(request))
        return self.get_response(request)


def _rejected(request):
    from django.contrib.auth.models import AnonymousUser

    otel_trainerhub.log_security_event("authentication failed", request, reason="unknown or inactive API token")
    return AnonymousUser()
