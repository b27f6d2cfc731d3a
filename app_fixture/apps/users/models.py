import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class User(AbstractUser):
    CLIENT, TRAINER = "client", "trainer"
    phone = models.CharField(max_length=32, blank=True)
    role = models.CharField(max_length=16, choices=[(CLIENT, "Client"), (TRAINER, "Trainer")], default=CLIENT)
    api_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)

    def issue_token(self, token: str | None = None) -> str:
        token = token or secrets.token_urlsafe(24)
        self.api_token_hash = hash_token(token)
        return token
