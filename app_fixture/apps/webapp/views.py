"""The trainer app's page: the React bundle that frontend/ builds (npm --prefix frontend run
build), served with the trace context of this request in <meta name="traceparent">, so the
browser's spans join the server's trace, and with the browser telemetry's settings."""

import json
import mimetypes
from html import escape
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from opentelemetry import propagate

BUNDLES = frozenset({"trainer-app.js", "trainer-app.js.map"})


def _config(request) -> dict:
    return {
        "serviceName": settings.FRONTEND_SERVICE_NAME,
        "collectorUrl": settings.FRONTEND_OTLP_URL,
        "apiOrigins": settings.FRONTEND_API_ORIGINS,
        "route": "/trainer/",
        "environment": settings.FRONTEND_ENVIRONMENT,
        "sentryDsn": settings.FRONTEND_SENTRY_DSN,
    }


def trainer_app(request):
    bundle = Path(settings.FRONTEND_DIST) / "trainer-app.js"
    if not bundle.is_file():
        return HttpResponse(
            f"The trainer app is not built: run `npm --prefix frontend ci && npm --prefix frontend run build` ({escape(str(bundle))} is missing).",
            status=503, content_type="text/plain; charset=utf-8",
        )
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    meta = "".join(f'<meta name="{name}" content="{escape(carrier[name])}">' for name in ("traceparent", "tracestate") if name in carrier)
    config = json.dumps(_config(request)).replace("<", "\\u003c")
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>TrainerHub: my bookings</title>'
        f'{meta}<script id="trainerhub-config" type="application/json">{config}</script></head>'
        f'<body><div id="root"></div><script src="/trainer/static/trainer-app.js?v={int(bundle.stat().st_mtime)}"></script></body></html>'
    )
    return HttpResponse(html, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


def bundle(request, name: str):
    if name not in BUNDLES:
        raise Http404(name)
    path = Path(settings.FRONTEND_DIST) / name
    if not path.is_file():
        raise Http404(name)
    return FileResponse(path.open("rb"), content_type=mimetypes.guess_type(name)[0] or "application/json")
