"""The one line a team adds to trace this project: ``import otel_trainerhub.auto`` first."""

import otel_trainerhub.auto  # noqa: F401  (first: it instruments at import time)
from forum.wsgi import application  # noqa: E402

__all__ = ["application"]
