"""Steady HTTP traffic against a URL while something happens (a rollout, a blue/green switch, a kill): GETs back to
back in a thread, counting answers and the app versions that served them (the X-App-Version header)."""

from __future__ import annotations

import threading
from collections import Counter
from types import TracebackType

import requests


class Traffic:
    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.ok = 0
        self.failed = 0
        self.versions: Counter[str] = Counter()
        self.failed_versions: Counter[str] = Counter()  # failures by the version that answered ("?": no answer)
        self.failures: list[str] = []  # the first few, for the message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def _run(self) -> None:
        with requests.Session() as session:
            # A new connection per request: each one is balanced anew by kube-proxy, as separate clients would be.
            session.headers["Connection"] = "close"
            while not self._stop.is_set():
                try:
                    r = session.get(self.url, timeout=self.timeout)
                    if r.status_code == 200:
                        self.ok += 1
                        self.versions[r.headers.get("X-App-Version", "?")] += 1
                        continue
                    problem = f"HTTP {r.status_code}"
                    self.failed_versions[r.headers.get("X-App-Version", "?")] += 1
                except requests.RequestException as e:
                    problem = type(e).__name__
                    self.failed_versions["?"] += 1
                self.failed += 1
                if len(self.failures) < 5:
                    self.failures.append(problem)

    def summary(self) -> str:
        versions = ", ".join(f"{v}: {n}" for v, n in sorted(self.versions.items()))
        failures = f" ({', '.join(self.failures)})" if self.failures else ""
        return f"{self.total} requests, {self.failed} failed{failures}; served by {versions or 'nobody'}"
