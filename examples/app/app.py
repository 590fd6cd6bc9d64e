"""shipline's example application: a tiny web app like the seed's frontend.

GET /           a page naming the version (APP_VERSION, else the VERSION file baked into the image, else "dev")
GET /healthz    liveness: 200 while the process serves requests
GET /readiness  readiness: 200 once started (after READY_DELAY seconds), 503 while draining after SIGTERM

Standard library only, so the image needs nothing but Python. SIGTERM starts a graceful drain: readiness fails
first (the Service stops sending traffic), then the server stops after DRAIN_SECONDS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, version: str, ready_delay: float) -> None:
        self.version = version
        self.hostname = socket.gethostname()
        self.started = time.monotonic()
        self.ready_delay = ready_delay
        self.draining = False

    def ready(self) -> bool:
        return not self.draining and time.monotonic() - self.started >= self.ready_delay


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shipline-example"

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/":
                body = (
                    "<!doctype html><title>shipline example</title>"
                    f"<h1>shipline example app</h1><p>version: {state.version}</p><p>host: {state.hostname}</p>\n"
                )
                self.reply(200, body, "text/html; charset=utf-8")
            elif path == "/healthz":
                self.reply(200, "ok\n")
            elif path == "/readiness":
                if state.ready():
                    self.reply(200, "ready\n")
                else:
                    self.reply(503, "draining\n" if state.draining else "starting\n")
            elif path == "/version":
                self.reply(200, json.dumps({"version": state.version}) + "\n", "application/json")
            else:
                self.reply(404, "not found\n")

        def reply(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-App-Version", state.version)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def read_version() -> str:
    if os.environ.get("APP_VERSION"):
        return os.environ["APP_VERSION"]
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "VERSION")) as f:
            return f.read().strip() or "dev"
    except OSError:
        return "dev"


def main() -> int:
    state = State(
        version=read_version(),
        ready_delay=float(os.environ.get("READY_DELAY", "0")),
    )
    port = int(os.environ.get("PORT", "8080"))
    drain = float(os.environ.get("DRAIN_SECONDS", "2"))
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(state))

    def on_term(signum: int, frame: object) -> None:
        # Fail readiness first so endpoints drop this pod, then stop serving.
        state.draining = True
        threading.Timer(drain, server.shutdown).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sys.stderr.write(f"shipline example app {state.version} listening on :{port}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
