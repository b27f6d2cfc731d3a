"""The fixture's trainer app (/trainer/, built from frontend/) in a real headless Chromium:
load it as a signed-in user, interact, throw, and leave, the way a person's visit ends (the
page hidden: the moment the browser telemetry sends what it has)."""

from __future__ import annotations

from typing import Any

from tests.support.stack import wait_until

TOKEN_KEY = "trainerhub.apiToken"


def _ready(driver: Any) -> bool:
    return bool(driver.execute_script("return !!document.querySelector('#bookings') && !!window.trainerhubTelemetry"))


def visit(driver: Any, app: str, token: str, query: str = "", throw: bool = False) -> str:
    """One visit to the trainer app: the bookings listed, Refresh clicked (an interaction, for
    INP), the test error thrown if asked, then the page left. Returns the page's trace id."""
    driver.get(f"{app}/liveness/")  # same origin first, to sign in through sessionStorage
    driver.execute_script("sessionStorage.setItem(arguments[0], arguments[1])", TOKEN_KEY, token)
    driver.get(f"{app}/trainer/" + (f"?{query}" if query else ""))
    wait_until("the trainer app to list the bookings", lambda: _ready(driver), timeout=30)
    trace_id = driver.execute_script("return window.trainerhubTelemetry.pageTraceId")
    assert trace_id and len(trace_id) == 32, f"the page has no server trace context: {trace_id!r}"
    driver.find_element("id", "refresh").click()
    wait_until("the refreshed list", lambda: driver.execute_script("return +document.querySelector('#bookings').dataset.loads") >= 2, timeout=30)
    if throw:
        driver.find_element("id", "throw").click()
    # Leaving hides the page: the telemetry flushes with keepalive requests, which outlive it.
    driver.get("about:blank")
    return str(trace_id)


def fetch_from(driver: Any, page: str, url: str, **init: Any) -> dict[str, Any]:
    """What a fetch() from `page`'s origin gets: {"status": ...} or {"error": "TypeError: ..."} (CORS refusals)."""
    driver.get(page)
    driver.set_script_timeout(30)
    return dict(driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], arguments[1]).then(r => done({status: r.status}), e => done({error: String(e)}));",
        url, init,
    ))


class ForeignOrigin:
    """A page on another origin (another port of loopback), as a site that is not the trainer
    app's would be: what its scripts may send to the intake and the API is up to CORS."""

    def __enter__(self) -> str:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Page(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = b"<!doctype html><title>elsewhere</title><p>another site"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
