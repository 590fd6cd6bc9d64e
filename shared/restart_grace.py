"""Riding out an API server restart: which failed answers are retried, and for how long.

A kube-apiserver that has just restarted accepts connections before it is whole: until its RBAC and token caches
are filled it answers 403 or 401 to requests it will allow a few seconds later, and it may answer 429/5xx while
it catches up (`kubectl rollout status` waits through all of that). So:

- a lost connection (refused, reset, cut mid-stream or mid-handshake, timed out) and a 429/5xx answer are
  retried with backoff until the step's deadline;
- a 401/403 is retried only within a grace window (default 30 s) after the last lost connection, and never past
  the deadline; outside that window it is a real refusal and fails at once;
- anything else (other 4xx, a failed TLS verification) fails at once.

One `RestartGrace` belongs to one API client and is shared by every thread using it: a connection lost by one
watch opens the window for all of them.
"""

from __future__ import annotations

import enum
import http.client
import ssl
import sys
import threading
import time
from collections.abc import Callable
from types import ModuleType

from kubernetes.client.exceptions import ApiException

GRACE_SECONDS = 30.0
BACKOFF_START, BACKOFF_MAX = 0.25, 3.0
_BUSY_STATUS = frozenset({429, 500, 502, 503, 504})


class Fault(enum.Enum):
    LOST = "lost connection"  # the server is away: refused, reset, cut, timed out
    BUSY = "busy"  # 429, 5xx
    REFUSED = "refused"  # 401, 403
    FINAL = "final"  # other 4xx, TLS verification, anything else


def classify(error: BaseException) -> Fault:
    """What kind of failure `error` is (the only place that looks at the client's exception types)."""
    if isinstance(error, ApiException):
        status = error.status or 0
        if status == 0:
            return Fault.LOST  # the client raises status 0 when no HTTP answer came
        if status in (401, 403):
            return Fault.REFUSED
        return Fault.BUSY if status in _BUSY_STATUS else Fault.FINAL
    urllib3 = loaded_urllib3()
    if urllib3 and isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    if tls_cut(error):
        return Fault.LOST
    if isinstance(error, ssl.SSLError) or (urllib3 and isinstance(error, urllib3.exceptions.SSLError)):
        return Fault.FINAL  # a wrong CA does not fix itself
    if isinstance(error, (OSError, http.client.HTTPException)):
        return Fault.LOST
    if urllib3 and isinstance(error, urllib3.exceptions.HTTPError):
        return Fault.LOST
    return Fault.FINAL


def tls_cut(error: BaseException) -> bool:
    """A TLS error that is a connection closed mid-handshake (EOF), not a failed verification; urllib3 wraps the
    ssl module's error in its own."""
    urllib3 = loaded_urllib3()
    if urllib3 and isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    if urllib3 and isinstance(error, urllib3.exceptions.SSLError) and error.args:
        error = error.args[0]
    return isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError))


def loaded_urllib3() -> ModuleType | None:
    """urllib3, once something has imported it (the typed Kubernetes client does): before that, no error can be
    one of its own, and importing it only to ask would cost a plugin's start-up (shared.kube's raw reads use
    the stdlib's http.client)."""
    return sys.modules.get("urllib3")


def may_retry(fault: Fault, *, now: float, delay: float, deadline: float, lost_at: float | None, grace: float) -> bool:
    """Whether a failure of kind `fault` at `now` is retried after `delay` seconds (pure: the rules above)."""
    retry_at = now + delay
    if retry_at >= deadline:
        return False
    if fault in (Fault.LOST, Fault.BUSY):
        return True
    if fault is Fault.REFUSED:
        return lost_at is not None and retry_at < lost_at + grace
    return False


class RestartGrace:
    """Remembers when the connection to the API server was last lost, and decides what is retried."""

    def __init__(self, grace: float = GRACE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace, self.clock = grace, clock
        self.lost_at: float | None = None
        self._lock = threading.Lock()

    def connection_lost(self) -> None:
        with self._lock:
            self.lost_at = self.clock()

    def should_retry(self, error: BaseException, deadline: float, delay: float) -> bool:
        """Record a lost connection, then: is `error` worth another try after `delay` s, before `deadline`?"""
        fault = classify(error)
        if fault is Fault.LOST:
            self.connection_lost()
        with self._lock:
            lost_at = self.lost_at
        return may_retry(fault, now=self.clock(), delay=delay, deadline=deadline, lost_at=lost_at, grace=self.grace)


def next_delay(delay: float) -> float:
    """The backoff after `delay`: doubling, capped."""
    return min(delay * 2, BACKOFF_MAX)
