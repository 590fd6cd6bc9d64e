"""What is retried when, within which window, and never past the deadline (shared.restart_grace)."""

from __future__ import annotations

import io
import ssl
import time
from types import SimpleNamespace

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from shared.errors import AuthError, PluginError
from shared.kube import Cluster
from shared.kube_client import NotingRetry
from shared.log import Log
from shared.restart_grace import Fault, RestartGrace, classify, may_retry, next_delay

REFUSED_CONNECTION = urllib3.exceptions.MaxRetryError(
    None,  # type: ignore[arg-type]
    "/",
    urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
)

# What urllib3 raises when the server closes the connection during the TLS handshake (a restart, a proxy cut).
TLS_EOF = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol")


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        pytest.param(ApiException(status=403), Fault.REFUSED, id="403"),
        pytest.param(ApiException(status=401), Fault.REFUSED, id="401"),
        pytest.param(ApiException(status=429), Fault.BUSY, id="429"),
        pytest.param(ApiException(status=500), Fault.BUSY, id="500"),
        pytest.param(ApiException(status=503), Fault.BUSY, id="503"),
        pytest.param(ApiException(status=0), Fault.LOST, id="no-answer"),
        pytest.param(ApiException(status=404), Fault.FINAL, id="404"),
        pytest.param(ApiException(status=422), Fault.FINAL, id="422"),
        pytest.param(ConnectionRefusedError(111, "Connection refused"), Fault.LOST, id="refused"),
        pytest.param(urllib3.exceptions.ProtocolError("Connection broken"), Fault.LOST, id="cut-mid-stream"),
        pytest.param(urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"), Fault.LOST, id="timeout"),  # type: ignore[arg-type]
        pytest.param(REFUSED_CONNECTION, Fault.LOST, id="retries-exhausted"),
        pytest.param(
            urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError("CERTIFICATE_VERIFY_FAILED")),  # type: ignore[arg-type]
            Fault.FINAL,
            id="tls-verification",
        ),
        pytest.param(ssl.SSLCertVerificationError("bad"), Fault.FINAL, id="ssl"),
        pytest.param(
            urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(TLS_EOF)),  # type: ignore[arg-type]
            Fault.LOST,
            id="cut-mid-handshake",
        ),
        pytest.param(TLS_EOF, Fault.LOST, id="ssl-eof"),
        pytest.param(ValueError("bug"), Fault.FINAL, id="not-an-api-error"),
    ],
)
def test_classify(error: BaseException, fault: Fault) -> None:
    assert classify(error) is fault


# now=100, the deadline at 200 unless said; lost_at None means no connection was lost yet.
@pytest.mark.parametrize(
    ("fault", "lost_at", "deadline", "retried"),
    [
        pytest.param(Fault.LOST, None, 200.0, True, id="lost-connection-retried"),
        pytest.param(Fault.BUSY, None, 200.0, True, id="busy-retried-without-a-loss"),
        pytest.param(Fault.REFUSED, None, 200.0, False, id="403-without-a-loss-is-final"),
        pytest.param(Fault.REFUSED, 95.0, 200.0, True, id="403-5s-after-a-loss"),
        pytest.param(Fault.REFUSED, 71.5, 200.0, True, id="403-retry-still-inside-the-window"),
        pytest.param(Fault.REFUSED, 71.0, 200.0, False, id="403-retry-would-fall-at-the-window-end"),
        pytest.param(Fault.REFUSED, 40.0, 200.0, False, id="403-long-after-a-loss"),
        pytest.param(Fault.REFUSED, 95.0, 100.5, False, id="window-bounded-by-deadline"),
        pytest.param(Fault.LOST, 95.0, 100.5, False, id="loss-bounded-by-deadline"),
        pytest.param(Fault.BUSY, None, 100.5, False, id="busy-bounded-by-deadline"),
        pytest.param(Fault.FINAL, 95.0, 200.0, False, id="404-never"),
    ],
)
def test_may_retry(fault: Fault, lost_at: float | None, deadline: float, retried: bool) -> None:
    assert may_retry(fault, now=100.0, delay=1.0, deadline=deadline, lost_at=lost_at, grace=30.0) is retried


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_lost_connection_opens_the_window_for_403() -> None:
    clock = Clock()
    grace = RestartGrace(grace=30.0, clock=clock)
    forbidden = ApiException(status=403)
    assert not grace.should_retry(forbidden, deadline=2000.0, delay=0.25)  # a real refusal: at once
    assert grace.should_retry(ConnectionRefusedError(111, "refused"), deadline=2000.0, delay=0.25)
    clock.now += 10
    assert grace.should_retry(forbidden, deadline=2000.0, delay=0.25)  # the restarted server's empty caches
    clock.now += 25
    assert not grace.should_retry(forbidden, deadline=2000.0, delay=0.25)  # 35 s after the loss: it counts


def test_each_lost_connection_restarts_the_window() -> None:
    clock = Clock()
    grace = RestartGrace(grace=30.0, clock=clock)
    grace.should_retry(urllib3.exceptions.ProtocolError("cut"), deadline=2000.0, delay=0.25)
    clock.now += 25
    grace.should_retry(urllib3.exceptions.ProtocolError("cut"), deadline=2000.0, delay=0.25)
    clock.now += 25
    assert grace.should_retry(ApiException(status=401), deadline=2000.0, delay=0.25)


def test_the_step_deadline_bounds_the_window() -> None:
    clock = Clock()
    grace = RestartGrace(grace=30.0, clock=clock)
    grace.connection_lost()
    assert not grace.should_retry(ApiException(status=403), deadline=clock.now + 1.0, delay=2.0)


def test_backoff_doubles_up_to_a_cap() -> None:
    delays = [0.25]
    for _ in range(6):
        delays.append(next_delay(delays[-1]))
    assert delays == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_urllib3_retries_of_a_refused_connection_are_noted() -> None:
    """urllib3 retries a refused connect by itself; the window must open even when a later attempt gets through."""
    grace = RestartGrace(grace=30.0, clock=Clock())
    retry = NotingRetry(total=3, connect=3, read=0, grace=grace)
    after = retry.increment("GET", "/api", error=urllib3.exceptions.NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert grace.lost_at == 1000.0
    assert isinstance(after, NotingRetry) and after.grace is grace


def test_urllib3_status_retries_do_not_open_the_window() -> None:
    grace = RestartGrace(grace=30.0, clock=Clock())
    retry = NotingRetry(total=3, status=3, status_forcelist=(503,), grace=grace)
    response = urllib3.response.HTTPResponse(status=503)
    retry.increment("GET", "/api", response=response)
    assert grace.lost_at is None


# -- the retry loop of the cluster client, with calls that fail as a restarting API server does ---------------------


class Answers:
    """Raises the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)

    def __call__(self) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def cluster() -> Cluster:
    return Cluster("https://api.test:6443", SimpleNamespace, grace=RestartGrace(grace=30.0))  # type: ignore[arg-type]


def test_retrying_rides_out_refused_connections_then_403() -> None:
    out = io.StringIO()
    restart = Answers(ConnectionRefusedError(111, "refused"), ApiException(status=403), ApiException(status=401))
    result = cluster().retrying(restart, time.monotonic() + 60, Log(out), "reading")
    assert result == "ok"
    assert "forbidden (403)" in out.getvalue() and "retrying" in out.getvalue()


def test_retrying_fails_at_once_on_403_without_a_lost_connection() -> None:
    with pytest.raises(AuthError, match=r"forbidden \(403\) from https://api.test:6443"):
        cluster().retrying(Answers(ApiException(status=403)), time.monotonic() + 60, Log(io.StringIO()), "reading")


def test_retrying_stops_at_the_deadline() -> None:
    with pytest.raises(PluginError, match="cannot reach https://api.test:6443"):
        cluster().retrying(Answers(*[ConnectionRefusedError(111, "refused")] * 100), time.monotonic() + 0.5)
