"""``import otel_trainerhub.auto``: configure everything from the environment, at import time.

Make it the first import of ``manage.py``, ``wsgi.py`` / ``asgi.py`` and the Celery app
module. A bad environment value stops start-up with one line naming it.
"""

from otel_trainerhub import ConfigError, configure

try:
    configure()
except ConfigError as error:
    raise SystemExit(f"otel_trainerhub: configuration error: {error}") from None
