"""shipline's example application: a tiny web app like the seed's frontend.

GET /           a page naming the version (APP_VERSION, else the VERSION file baked into the image, else "dev")
GET /healthz    liveness: 200 while the process serves requests
GET /readiness  readiness: 200 once started (after READY_DELAY seconds), 503 while draining after SIGTERM
GET /metrics    Prometheus text: requests by path and status, readiness, version; for canary analysis the
                conventional http_requests_total{code,version} and http_request_duration_seconds{version} histogram
                of the application's own requests (/ and /version: probes and scrapes are left out)

Standard library only, so the image needs nothing but Python and starts in well under a second. SIGTERM starts a
graceful drain: readiness fails first (the Service stops sending traffic), then the server stops after
DRAIN_SECONDS.

Behaviours for tests on a real node (stack/app-images.sh bakes one per image tag):
  READY_DELAY=S     slow start: not Ready for the first S seconds
  EXIT_AT_START=N   exits with status N at once, its reason in /dev/termination-log (a real CrashLoopBackOff)
  NEVER_READY=1     serves, but its readiness probe always fails
  CRASH_AFTER=S     Ready, then exits with status 1 after S seconds
  ERROR_RATE=F      answers / with 500 for the fraction F of requests (evenly spread: 0.25 = every 4th)
  LATENCY=S         answers / after S seconds (a slow version, for latency analysis)
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


TERMINATION_LOG = "/dev/termination-log"
# Prometheus client libraries' default buckets (seconds)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
APP_PATHS = ("/", "/version")  # what http_requests_total counts: traffic, not probes or scrapes


class State:
    def __init__(
        self, version: str, ready_delay: float, never_ready: bool = False, error_rate: float = 0.0, latency: float = 0.0
    ) -> None:
        self.version = version
        self.hostname = socket.gethostname()
        self.started = time.monotonic()
        self.ready_delay = ready_delay
        self.never_ready = never_ready
        self.error_rate = error_rate
        self.latency = latency
        self.draining = False
        self.lock = threading.Lock()
        self.served = 0  # requests to /, for the error rate
        self.counts: dict[tuple[str, int], int] = {}
        self.codes: dict[int, int] = {}  # application requests by status
        self.buckets = [0] * len(BUCKETS)
        self.duration_sum = 0.0

    def ready(self) -> bool:
        if self.never_ready or self.draining:
            return False
        return time.monotonic() - self.started >= self.ready_delay

    def next_fails(self) -> bool:
        """Whether this request to / fails: floor(n * rate) steps up exactly rate * n times in n requests."""
        with self.lock:
            self.served += 1
            n = self.served
        return int(n * self.error_rate) > int((n - 1) * self.error_rate)

    def count(self, path: str, status: int) -> None:
        with self.lock:
            self.counts[(path, status)] = self.counts.get((path, status), 0) + 1

    def observe(self, status: int, seconds: float) -> None:
        """One application request: its status and how long it took."""
        with self.lock:
            self.codes[status] = self.codes.get(status, 0) + 1
            self.duration_sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1

    def metrics(self) -> str:
        with self.lock:
            counts = sorted(self.counts.items())
            codes, buckets, total, dsum = (
                sorted(self.codes.items()),
                list(self.buckets),
                sum(self.codes.values()),
                self.duration_sum,
            )
        v = f'version="{self.version}"'
        lines = [
            "# HELP app_requests_total HTTP requests served, by path and status.",
            "# TYPE app_requests_total counter",
            *(f'app_requests_total{{path="{p}",code="{c}"}} {n}' for (p, c), n in counts),
            "# HELP app_ready 1 while the readiness endpoint answers 200.",
            "# TYPE app_ready gauge",
            f"app_ready {int(self.ready())}",
            "# HELP app_info The running version.",
            "# TYPE app_info gauge",
            f'app_info{{version="{self.version}"}} 1',
            "# HELP http_requests_total Application requests (/ and /version), by status code.",
            "# TYPE http_requests_total counter",
            *(f'http_requests_total{{code="{c}",{v}}} {n}' for c, n in codes),
            "# HELP http_request_duration_seconds Time to answer an application request.",
            "# TYPE http_request_duration_seconds histogram",
            *(f'http_request_duration_seconds_bucket{{le="{b:g}",{v}}} {n}' for b, n in zip(BUCKETS, buckets)),
            f'http_request_duration_seconds_bucket{{le="+Inf",{v}}} {total}',
            f"http_request_duration_seconds_sum{{{v}}} {dsum:.6f}",
            f"http_request_duration_seconds_count{{{v}}} {total}",
        ]
        return "\n".join(lines) + "\n"


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "shipline-example"

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            self.started = time.monotonic()
            path = self.path.split("?", 1)[0]
            if path == "/" and state.latency:
                time.sleep(state.latency)
            if path == "/" and state.next_fails():
                self.reply(500, "injected error (ERROR_RATE)\n")
            elif path == "/":
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
            elif path == "/metrics":
                self.reply(200, state.metrics(), "text/plain; version=0.0.4")
            else:
                self.reply(404, "not found\n")

        def reply(self, status: int, body: str, ctype: str = "text/plain; charset=utf-8") -> None:
            known = ("/", "/healthz", "/readiness", "/version", "/metrics")
            path = self.path.split("?", 1)[0]
            state.count(path if path in known else "other", status)
            if path in APP_PATHS:
                state.observe(status, time.monotonic() - self.started)
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


def terminate(status: int, reason: str) -> None:
    """Exits now with `status`, leaving `reason` where the kubelet reads a container's termination message."""
    sys.stderr.write(reason + "\n")
    try:
        with open(TERMINATION_LOG, "w") as f:
            f.write(reason)
    except OSError:
        pass  # not under Kubernetes
    sys.stderr.flush()
    os._exit(status)


def main() -> int:
    exit_at_start = int(os.environ.get("EXIT_AT_START") or 0)
    if exit_at_start:
        terminate(exit_at_start, f"exiting at start with status {exit_at_start} (EXIT_AT_START)")
    state = State(
        version=read_version(),
        ready_delay=float(os.environ.get("READY_DELAY", "0")),
        never_ready=os.environ.get("NEVER_READY", "") not in ("", "0", "false"),
        error_rate=float(os.environ.get("ERROR_RATE") or 0),
        latency=float(os.environ.get("LATENCY") or 0),
    )
    crash_after = float(os.environ.get("CRASH_AFTER") or 0)
    if crash_after:
        timer = threading.Timer(crash_after, terminate, (1, f"crashing after {crash_after:g}s (CRASH_AFTER)"))
        timer.daemon = True
        timer.start()
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
