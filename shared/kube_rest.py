"""How `shared.kube.Cluster` reads by path without the Kubernetes client: the token kubeconfig shared.auth writes,
read as an `Endpoint`, and `Rest`, plain GETs over http.client. Only Cluster uses them (plugins read through it)."""

from __future__ import annotations

import http.client
import json
import select
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from kubernetes.client.exceptions import ApiException

from shared.restart_grace import Fault, RestartGrace, classify


@dataclass(frozen=True)
class Endpoint:
    """The API server and credentials of a token kubeconfig."""

    server: str
    token: str = field(repr=False)
    ca_file: str | None
    insecure: bool


def read_endpoint(path: Path) -> Endpoint | None:
    """The kubeconfig shared.auth writes (as JSON) for a server and a token file, read directly; None for any other
    (exec plugins, client certificates, auth providers, YAML): those go to the client's own loader."""
    try:
        kubeconfig = json.loads(path.read_text())
        (cluster,) = [entry["cluster"] for entry in kubeconfig["clusters"]]
        (user,) = [entry["user"] for entry in kubeconfig["users"]]
    except (KeyError, TypeError, ValueError):
        return None
    plain = {"server", "certificate-authority", "insecure-skip-tls-verify"}
    if set(user) != {"tokenFile"} or not set(cluster) <= plain:
        return None
    return Endpoint(
        cluster["server"],
        Path(user["tokenFile"]).read_text().strip(),
        cluster.get("certificate-authority"),
        bool(cluster.get("insecure-skip-tls-verify", False)),
    )


def retried(method: str, *, sent: bool, error: BaseException | None = None, status: int = 0) -> bool:
    """Whether a failed attempt is tried again (up to 3 times), like the typed client's urllib3 policy: a lost
    connection (`restart_grace.classify`) when nothing was sent yet, for any method, or for a GET; a 502/503/504
    answer to a GET. Never a timeout, a failed TLS verification or another answer."""
    if error is not None:
        if isinstance(error, TimeoutError) or classify(error) is not Fault.LOST:
            return False
        return not sent or method == "GET"
    return status in (502, 503, 504) and method == "GET"


class Rest:
    """Requests with the token over one keep-alive connection per thread (the stdlib's http.client), retried as
    `retried` says; each lost connection is noted in `grace`."""

    BACKOFF = (0.0, 1.0, 2.0)  # before each retry (urllib3's backoff_factor 0.5)

    def __init__(self, endpoint: Endpoint, grace: RestartGrace) -> None:
        url = urlsplit(endpoint.server)
        self.https, self.host, self.port = url.scheme == "https", url.hostname or "", url.port
        self.prefix = url.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {endpoint.token}", "Accept": "application/json"}
        self.context = _tls_context(endpoint) if self.https else None
        self.grace = grace
        self.local = threading.local()

    def request(
        self, method: str, path: str, query: Mapping[str, str], timeout: float, body: bytes | None = None,
        content_type: str = "application/json",
    ) -> bytes:  # fmt: skip
        """The answer's body; ApiException for an HTTP error, OSError/HTTPException for the connection's."""
        target = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = self.headers if body is None else {**self.headers, "Content-Type": content_type}
        last = len(self.BACKOFF)
        for attempt, backoff in enumerate((0.0, *self.BACKOFF)):
            time.sleep(backoff)
            conn, sent = self._connection(timeout), False
            try:
                if conn.sock is None:
                    conn.connect()
                sent = True
                conn.request(method, target, body, headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if attempt == last or not retried(method, sent=sent, error=e):
                    raise
                self.grace.connection_lost()
                continue
            if attempt < last and retried(method, sent=True, status=response.status):
                continue
            if response.status >= 400:
                error = ApiException(status=response.status, reason=response.reason)
                error.body, error.headers = data.decode("utf-8", "replace"), response.headers
                raise error
            return data
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        """This thread's connection; a new one when the server has closed the kept-alive one (an idle connection
        that is readable has reached its end: urllib3's check before reusing a pooled connection)."""
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
        if conn is not None and conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
            self._drop()
            conn = None
        if conn is None:
            if self.https:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            self.local.conn = conn
        conn.timeout = timeout
        if conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def close(self) -> None:
        self._drop()  # other threads' connections close with their threads


def _tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    """Verified against the kubeconfig's CA (the typed client's default, certifi, when it names none)."""
    if endpoint.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if endpoint.ca_file:
        return ssl.create_default_context(cafile=endpoint.ca_file)
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
