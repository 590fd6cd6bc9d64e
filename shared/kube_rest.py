"""How `shared.kube.Cluster` reads by path without the Kubernetes client: the token kubeconfig shared.auth writes,
read as an `Endpoint`, and `Rest`, plain GETs over http.client. Only Cluster uses them (plugins read through it)."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from kubernetes.client.exceptions import ApiException

from shared.restart_grace import RestartGrace


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


class Rest:
    """GETs with the token over one keep-alive connection per thread (the stdlib's http.client). Retried like the
    typed client's urllib3 policy: a failed connection and a 502/503/504 answer up to 3 times, each lost
    connection noted in `grace`; a timeout or a failed TLS verification is not retried."""

    BACKOFF = (0.0, 1.0, 2.0)  # before each retry (urllib3's backoff_factor 0.5)

    def __init__(self, endpoint: Endpoint, grace: RestartGrace) -> None:
        url = urlsplit(endpoint.server)
        self.https, self.host, self.port = url.scheme == "https", url.hostname or "", url.port
        self.prefix = url.path.rstrip("/")
        self.headers = {"Authorization": f"Bearer {endpoint.token}", "Accept": "application/json"}
        self.context = _tls_context(endpoint) if self.https else None
        self.grace = grace
        self.local = threading.local()

    def get(self, path: str, query: Mapping[str, str], timeout: float) -> bytes:
        target = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        for attempt, backoff in enumerate((0.0, *self.BACKOFF)):
            time.sleep(backoff)
            conn = self._connection(timeout)
            try:
                conn.request("GET", target, headers=self.headers)
                response = conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if isinstance(e, (ssl.SSLError, TimeoutError)) or attempt == len(self.BACKOFF):
                    raise
                self.grace.connection_lost()
                continue
            if response.status in (502, 503, 504) and attempt < len(self.BACKOFF):
                continue
            if response.status >= 400:
                error = ApiException(status=response.status, reason=response.reason)
                error.body, error.headers = body.decode("utf-8", "replace"), response.headers
                raise error
            return body
        raise AssertionError("unreachable")

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self.local, "conn", None)
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
