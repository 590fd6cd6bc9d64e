"""HTTP checks with `requests`: is an endpoint serving what we expect, how often does it fail, how slow is it,
and is a canary worse than its baseline. Used by deployment-verify (smoke and canary analysis) and chaos-kill
(probes while pods die).

The arithmetic (percentiles, error rates, the canary comparison, judging one response) is pure and
unit-tested; `probe`, `warm_up`, `measure` and `measure_pair` do the requests through a `requests.Session`
the caller builds (and closes).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where requests are made: deployment-verify reaches its first API call sooner
    import requests

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Expectation:
    """What a good answer looks like, and how to ask."""

    status: int | None = 200  # None: any status below 400
    body: str | None = None  # a regex searched for in the body
    headers: Mapping[str, str] = field(default_factory=dict)  # sent with every request (may hold tokens)
    request_timeout: float = 5.0  # seconds, per request
    max_latency_ms: float | None = None  # threshold on the p95 latency, judged by `violations`


@dataclass(frozen=True)
class Outcome:
    """One request: `error` is "" when the answer met the expectation."""

    error: str
    latency_ms: float | None  # None when no answer came at all (connection refused ...)

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Stats:
    url: str
    total: int
    errors: int
    error_rate: float
    p95_ms: float
    p50_ms: float = 0.0
    max_ms: float = 0.0
    first_error: str = ""


# -- pure ----------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (the smallest value with at least `pct`% of values at or below it); 0.0 for
    no values."""
    if not 0 < pct <= 100:
        raise ValueError(f"percentile {pct} is not in (0, 100]")
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def judge_response(status: int, body: str, expectation: Expectation) -> str:
    """ "" when the answer meets the expectation, else why not (one short line)."""
    if expectation.status is None:
        if status >= 400:
            return f"HTTP {status} (expected a status below 400)"
    elif status != expectation.status:
        return f"HTTP {status} (expected {expectation.status})"
    if expectation.body is not None and not re.search(expectation.body, body):
        seen = " ".join(body.split())[:80]
        return f"body does not match /{expectation.body}/ (got {seen!r})"
    return ""


def summarize(url: str, outcomes: Sequence[Outcome]) -> Stats:
    """Counts and latency percentiles of a series of requests (latency over the requests that got an answer or
    timed out)."""
    errors = [o.error for o in outcomes if o.error]
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    total = len(outcomes)
    return Stats(
        url=url,
        total=total,
        errors=len(errors),
        error_rate=len(errors) / total if total else 0.0,
        p95_ms=percentile(latencies, 95),
        p50_ms=percentile(latencies, 50),
        max_ms=max(latencies, default=0.0),
        first_error=errors[0] if errors else "",
    )


def violations(stats: Stats, max_error_rate: float, max_latency_ms: float | None) -> list[str]:
    """The thresholds `stats` break, each as one line ([] when within them)."""
    found = []
    if stats.total == 0:
        found.append(f"{stats.url}: no requests were made")
    if stats.error_rate > max_error_rate:
        found.append(
            f"{stats.url}: error rate {stats.error_rate:.1%} > {max_error_rate:.1%} "
            f"({stats.errors} of {stats.total}; first: {stats.first_error})"
        )
    if max_latency_ms is not None and stats.p95_ms > max_latency_ms:
        found.append(f"{stats.url}: p95 latency {stats.p95_ms:.0f} ms > {max_latency_ms:.0f} ms")
    return found


@dataclass(frozen=True)
class CanaryComparison:
    error_rate_increase: float  # canary minus baseline, in [-1, 1]
    latency_increase_ms: float  # canary p95 minus baseline p95
    error_rate_ok: bool
    latency_ok: bool

    @property
    def passed(self) -> bool:
        return self.error_rate_ok and self.latency_ok


def compare(
    baseline: Stats, canary: Stats, max_error_rate_increase: float, max_latency_increase_ms: float | None
) -> CanaryComparison:
    """Is the canary worse than the baseline by more than the allowed margins? (Better is always fine.)"""
    rate = canary.error_rate - baseline.error_rate
    latency = canary.p95_ms - baseline.p95_ms
    return CanaryComparison(
        error_rate_increase=rate,
        latency_increase_ms=latency,
        error_rate_ok=rate <= max_error_rate_increase + 1e-12,
        latency_ok=max_latency_increase_ms is None or latency <= max_latency_increase_ms,
    )


def backoff_delays(retries: int, first: float, cap: float = 10.0) -> list[float]:
    """The waits between warm-up attempts: `first`, doubling, at most `cap` each."""
    return [min(first * 2**i, cap) for i in range(retries)]


def short_error(error: BaseException) -> str:
    """A request failure in a few words ("connection refused", "timed out after 2s" ...), without the long
    urllib3 chain requests puts in its messages."""
    import requests

    text = str(error)
    if isinstance(error, requests.Timeout):
        return "timed out"
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip().lower()
    if isinstance(error, requests.ConnectionError):
        return "connection failed: " + (text.split("Caused by")[-1].strip(" ()'\"") or type(error).__name__)[:120]
    return f"{type(error).__name__}: {text}"[:160]


# -- requests --------------------------------------------------------------------------------------------------


def probe(url: str, expectation: Expectation, session: requests.Session) -> Outcome:
    """One request, judged. Never raises for network trouble: that is an error outcome."""
    import requests

    started = time.perf_counter()
    try:
        resp = session.get(
            url, headers=dict(expectation.headers), timeout=expectation.request_timeout, allow_redirects=True
        )
        body = resp.text  # read the whole body: latency includes it
    except requests.Timeout as e:
        return Outcome(f"{short_error(e)} after {expectation.request_timeout:g}s", _ms(started))
    except requests.RequestException as e:
        return Outcome(short_error(e), None)
    return Outcome(judge_response(resp.status_code, body, expectation), _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def warm_up(
    url: str,
    expectation: Expectation,
    session: requests.Session,
    *,
    retries: int,
    backoff: float = 1.0,
    sleep: Sleep = time.sleep,
    on_retry: Callable[[int, Outcome, float], None] | None = None,
) -> Outcome:
    """Ask until one answer meets the expectation, at most `retries` more times after the first, waiting
    `backoff_delays` between. Returns the last outcome (a failed one when the endpoint never came up)."""
    outcome = probe(url, expectation, session)
    for attempt, delay in enumerate(backoff_delays(retries, backoff), start=1):
        if outcome.ok:
            break
        if on_retry:
            on_retry(attempt, outcome, delay)
        sleep(delay)
        outcome = probe(url, expectation, session)
    return outcome


def measure(
    url: str,
    expectation: Expectation,
    requests: int,
    interval: float,
    session: requests.Session,
    sleep: Sleep = time.sleep,
) -> Stats:
    """`requests` requests to `url`, `interval` seconds apart; their error rate and latency percentiles."""
    outcomes = []
    for i in range(requests):
        if i and interval > 0:
            sleep(interval)
        outcomes.append(probe(url, expectation, session))
    return summarize(url, outcomes)


def measure_pair(
    baseline_url: str,
    canary_url: str,
    expectation: Expectation,
    requests: int,
    interval: float,
    session: requests.Session,
    sleep: Sleep = time.sleep,
) -> tuple[Stats, Stats]:
    """Baseline and canary measured alike: interleaved request by request, so a slow moment hits both."""
    base, canary = [], []
    for i in range(requests):
        if i and interval > 0:
            sleep(interval)
        base.append(probe(baseline_url, expectation, session))
        canary.append(probe(canary_url, expectation, session))
    return summarize(baseline_url, base), summarize(canary_url, canary)
