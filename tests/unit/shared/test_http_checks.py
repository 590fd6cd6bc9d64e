"""HTTP checks: the pure arithmetic as tables, and probe/measure/warm-up against a real local HTTP server."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from shared import http_checks
from shared.http_checks import CanaryComparison, Expectation, Outcome, Stats


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [
        pytest.param([], 95, 0.0, id="empty"),
        pytest.param([7.0], 95, 7.0, id="one"),
        pytest.param([float(i) for i in range(1, 101)], 95, 95.0, id="1-100"),
        pytest.param([float(i) for i in range(1, 21)], 95, 19.0, id="1-20"),
        pytest.param([5.0, 1.0, 3.0, 2.0, 4.0], 50, 3.0, id="median-unsorted"),
        pytest.param([1.0, 2.0, 3.0, 1000.0], 95, 1000.0, id="outlier-in-small-sample"),
        pytest.param([1.0, 2.0], 100, 2.0, id="max"),
    ],
)
def test_percentile(values: list[float], pct: float, expected: float) -> None:
    assert http_checks.percentile(values, pct) == expected


@pytest.mark.parametrize("pct", [0, -1, 101])
def test_percentile_rejects_out_of_range(pct: float) -> None:
    with pytest.raises(ValueError):
        http_checks.percentile([1.0], pct)


@pytest.mark.parametrize(
    ("status", "body", "expectation", "expected"),
    [
        pytest.param(200, "ok", Expectation(), "", id="default-200"),
        pytest.param(503, "down", Expectation(), "HTTP 503 (expected 200)", id="wrong-status"),
        pytest.param(204, "", Expectation(status=204), "", id="other-status"),
        pytest.param(302, "", Expectation(status=None), "", id="any-below-400"),
        pytest.param(404, "", Expectation(status=None), "HTTP 404 (expected a status below 400)", id="any-but-404"),
        pytest.param(200, '{"version": "1.2.3"}', Expectation(body=r'"version": "1\.2\.\d+"'), "", id="body-regex"),
        pytest.param(
            200,
            "hello\n  world",
            Expectation(body="^ok$"),
            "body does not match /^ok$/ (got 'hello world')",
            id="body-mismatch",
        ),
    ],
)
def test_judge_response(status: int, body: str, expectation: Expectation, expected: str) -> None:
    assert http_checks.judge_response(status, body, expectation) == expected


def test_summarize() -> None:
    outcomes = [Outcome("", 10.0), Outcome("HTTP 500 (expected 200)", 30.0), Outcome("connection refused", None)]
    assert http_checks.summarize("http://x/", outcomes) == Stats(
        url="http://x/",
        total=3,
        errors=2,
        error_rate=2 / 3,
        p95_ms=30.0,
        p50_ms=10.0,
        max_ms=30.0,
        first_error="HTTP 500 (expected 200)",
    )


def test_summarize_nothing() -> None:
    assert http_checks.summarize("u", []) == Stats("u", 0, 0, 0.0, 0.0)


def stats(rate: float, p95: float, total: int = 10) -> Stats:
    return Stats("u", total, round(rate * total), rate, p95, first_error="HTTP 500 (expected 200)" if rate else "")


@pytest.mark.parametrize(
    ("s", "max_rate", "max_latency", "expected"),
    [
        pytest.param(stats(0.0, 50), 0.0, None, [], id="clean"),
        pytest.param(stats(0.1, 50), 0.1, 50.0, [], id="at-thresholds"),
        pytest.param(
            stats(0.2, 50),
            0.1,
            None,
            ["u: error rate 20.0% > 10.0% (2 of 10; first: HTTP 500 (expected 200))"],
            id="error-rate",
        ),
        pytest.param(stats(0.0, 120.4), 0.0, 100.0, ["u: p95 latency 120 ms > 100 ms"], id="latency"),
        pytest.param(Stats("u", 0, 0, 0.0, 0.0), 0.0, None, ["u: no requests were made"], id="no-requests"),
    ],
)
def test_violations(s: Stats, max_rate: float, max_latency: float | None, expected: list[str]) -> None:
    assert http_checks.violations(s, max_rate, max_latency) == expected


@pytest.mark.parametrize(
    ("baseline", "canary", "max_rate_inc", "max_lat_inc", "expected"),
    [
        pytest.param(stats(0.1, 50), stats(0.1, 50), 0.0, 0.0, CanaryComparison(0.0, 0.0, True, True), id="equal"),
        pytest.param(
            stats(0.1, 50), stats(0.3, 50), 0.1, 100, CanaryComparison(0.2, 0.0, False, True), id="more-errors"
        ),
        pytest.param(stats(0.3, 50), stats(0.0, 40), 0.0, 0, CanaryComparison(-0.3, -10.0, True, True), id="better"),
        pytest.param(stats(0.0, 50), stats(0.0, 400), 0.0, 100, CanaryComparison(0.0, 350.0, True, False), id="slower"),
        pytest.param(
            stats(0.0, 50), stats(0.0, 400), 0.0, None, CanaryComparison(0.0, 350.0, True, True), id="no-limit"
        ),
        pytest.param(stats(0.1, 50), stats(0.2, 50), 0.1, None, CanaryComparison(0.1, 0.0, True, True), id="at-margin"),
    ],
)
def test_compare(
    baseline: Stats, canary: Stats, max_rate_inc: float, max_lat_inc: float | None, expected: CanaryComparison
) -> None:
    got = http_checks.compare(baseline, canary, max_rate_inc, max_lat_inc)
    assert got.error_rate_increase == pytest.approx(expected.error_rate_increase)
    assert got.latency_increase_ms == pytest.approx(expected.latency_increase_ms)
    assert (got.error_rate_ok, got.latency_ok, got.passed) == (
        expected.error_rate_ok,
        expected.latency_ok,
        expected.passed,
    )


@pytest.mark.parametrize(
    ("retries", "first", "expected"),
    [
        pytest.param(0, 1.0, [], id="none"),
        pytest.param(4, 0.5, [0.5, 1.0, 2.0, 4.0], id="doubling"),
        pytest.param(6, 3.0, [3.0, 6.0, 10.0, 10.0, 10.0, 10.0], id="capped"),
    ],
)
def test_backoff_delays(retries: int, first: float, expected: list[float]) -> None:
    assert http_checks.backoff_delays(retries, first) == expected


# -- against a real local server ------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    count = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).count += 1
        if self.path == "/flaky" and type(self).count % 2 == 0:
            self.send_response(500)
            self.end_headers()
            return
        body = f"hello {self.headers.get('X-Probe', '')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.count = 0
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_probe_sends_headers_and_checks_body(server: str) -> None:
    with requests.Session() as session:
        good = http_checks.probe(f"{server}/", Expectation(body="hello abc", headers={"X-Probe": "abc"}), session)
        bad = http_checks.probe(f"{server}/", Expectation(body="^bye"), session)
    assert good.ok and good.latency_ms is not None
    assert bad.error.startswith("body does not match /^bye/")


def test_probe_connection_refused_is_an_outcome() -> None:
    with requests.Session() as session:
        outcome = http_checks.probe(f"http://127.0.0.1:{free_port()}/", Expectation(request_timeout=1), session)
    assert outcome == Outcome("connection refused", None)


def test_measure_counts_errors(server: str) -> None:
    with requests.Session() as session:
        got = http_checks.measure(f"{server}/flaky", Expectation(), 4, 0.0, session)
    assert (got.total, got.errors, got.error_rate, got.first_error) == (4, 2, 0.5, "HTTP 500 (expected 200)")


def test_measure_pair_interleaves(server: str) -> None:
    with requests.Session() as session:
        base, canary = http_checks.measure_pair(f"{server}/", f"{server}/flaky", Expectation(), 3, 0.0, session)
    # requests alternate base, canary: the canary gets the even-numbered (failing) requests
    assert (base.errors, canary.errors) == (0, 3)


def test_warm_up_retries_with_backoff_until_the_server_answers() -> None:
    port = free_port()
    waits: list[float] = []
    started: list[http.server.ThreadingHTTPServer] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # the server comes up during the second wait
            httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            started.append(httpd)

    try:
        with requests.Session() as session:
            outcome = http_checks.warm_up(
                f"http://127.0.0.1:{port}/", Expectation(), session, retries=5, backoff=0.1, sleep=sleep
            )
    finally:
        for httpd in started:
            httpd.shutdown()
            httpd.server_close()
    assert outcome.ok
    assert waits == [0.1, 0.2]


def test_warm_up_gives_up_after_retries() -> None:
    waits: list[float] = []
    with requests.Session() as session:
        outcome = http_checks.warm_up(
            f"http://127.0.0.1:{free_port()}/", Expectation(), session, retries=2, backoff=0.1, sleep=waits.append
        )
    assert outcome.error == "connection refused"
    assert waits == [0.1, 0.2]
