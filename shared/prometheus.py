"""The Prometheus HTTP API, as analysis needs it: is a query valid (Prometheus' own parser, `/api/v1/format_query`),
and the one number an instant query returns. Every failure is a PrometheusError with one line naming the cause."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.errors import PluginError

if TYPE_CHECKING:
    import requests


class PrometheusError(PluginError):
    """Prometheus could not be reached, refused the request, or answered something that is not one number."""


class Prometheus:
    def __init__(self, url: str, *, token: str = "", ca_file: str = "", timeout: float = 10.0) -> None:
        import requests  # loaded only when analysis runs

        self.url = url.rstrip("/")
        parts = urlsplit(self.url)  # what messages show: never a password in the URL
        self.shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        self.timeout = timeout
        self.session: requests.Session = requests.Session()
        self.session.trust_env = False  # a CI proxy variable must not send cluster-internal queries elsewhere
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        if ca_file:
            self.session.verify = ca_file

    def close(self) -> None:
        self.session.close()

    def parse_error(self, query: str) -> str:
        """Prometheus' parser's complaint about `query` ("" when it parses)."""
        body = self._get("/api/v1/format_query", query, accept_400=True)
        return "" if body.get("status") == "success" else str(body.get("error") or "refused")

    def value(self, query: str) -> float | None:
        """The single number of an instant query; None when it returns no data (no series, or NaN)."""
        data = self._get("/api/v1/query", query).get("data") or {}
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            number = _number(result)
        elif kind == "vector" and isinstance(result, list):
            if len(result) > 1:
                raise PrometheusError(f"the query returned {len(result)} series, not one: aggregate it (e.g. sum(...))")
            number = _number(result[0].get("value")) if result else None
        else:
            raise PrometheusError(f"the query returned a {kind}, not a number (an instant vector or scalar)")
        return None if number is None or math.isnan(number) else number

    def _get(self, path: str, query: str, *, accept_400: bool = False) -> dict[str, Any]:
        import requests

        try:
            response = self.session.get(self.url + path, params={"query": query}, timeout=self.timeout)
        except requests.RequestException as e:
            raise PrometheusError(f"Prometheus at {self.shown} unreachable: {_cause(e)}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise PrometheusError(
                f"Prometheus at {self.shown} answered HTTP {response.status_code} without a JSON body"
            )
        if response.status_code == 400 and accept_400:
            return body
        if response.status_code != 200 or body.get("status") != "success":
            error = " ".join(str(body.get("error") or "").split())[:300]
            raise PrometheusError(f"Prometheus at {self.shown} answered HTTP {response.status_code}: {error}")
        return body


def _number(pair: Any) -> float | None:
    """The value of a [timestamp, "value"] pair."""
    try:
        return float(pair[1])
    except (TypeError, ValueError, IndexError):
        raise PrometheusError(f"Prometheus answered a value that is not a number: {str(pair)[:80]}") from None


def _cause(error: BaseException) -> str:
    """The innermost reason of a requests failure, on one line (e.g. "Connection refused")."""
    while error.__context__ is not None and not isinstance(error, OSError):
        error = error.__context__
    text = str(error.args[-1] if error.args and isinstance(error.args[-1], str) else error)
    for marker in ("Errno 111] ", "Errno 110] ", "Errno -2] ", "Errno -3] "):
        if marker in text:
            text = text.split(marker, 1)[1].split("'")[0].split(")")[0].rstrip('"')
    return " ".join(text.split())[:200] or type(error).__name__
