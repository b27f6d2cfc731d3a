"""A local stand-in for the email, SMS and payment providers' HTTP APIs.

The fixture cannot reach SendGrid, Twilio or Stripe from here, so this answers their
calls on loopback: ``python -m apps.core.provider_sandbox --port 8765``. It answers
every POST with a JSON id, after ``--latency`` seconds; amounts ending in 13 cents are
declined with HTTP 402, and so is the test card 4000 0000 0000 0002.
"""

import argparse
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


DECLINED_CARD = "4000000000000002"  # the usual "card declined" test number


def make_handler(latency: float):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(latency)
            declined = self.path.startswith("/payments/") and (
                int(body.get("amount", 0)) % 100 == 13 or str(body.get("card_number", "")).replace(" ", "") == DECLINED_CARD
            )
            payload = {"error": "card_declined"} if declined else {"id": uuid.uuid4().hex[:24]}
            data = json.dumps(payload).encode()
            self.send_response(402 if declined else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def serve(port: int = 0, latency: float = 0.01) -> ThreadingHTTPServer:
    """Start the sandbox on a daemon thread; returns the server (``server.server_port``)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(latency))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="provider-sandbox").start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.01)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.latency))
    print(f"provider sandbox on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
