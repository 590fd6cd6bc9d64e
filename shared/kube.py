"""The one way to talk to the Kubernetes API: `Cluster` owns the ApiClient, the request timeout, the translation
of failures into one clear line, the retry of transient failures (riding out an API server restart, see
`shared.restart_grace`), and raw-JSON reads."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from shared.auth import KubeAccess
from shared.errors import AuthError, PluginError
from shared.log import Log
from shared.restart_grace import BACKOFF_START, NotingRetry, RestartGrace, next_delay, tls_cut

T = TypeVar("T")

# What a failed request can raise: the API's answer, or the connection's trouble.
REQUEST_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)


class Cluster:
    """One API server: typed API groups on one ApiClient, every request with a timeout and explained failures."""

    def __init__(
        self, api: client.ApiClient, server: str, timeout: float = 30.0, grace: RestartGrace | None = None
    ) -> None:
        self.api, self.server, self.timeout = api, server, timeout
        self.grace = grace or RestartGrace()  # one per connection: every thread using it shares the window
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.discovery = client.DiscoveryV1Api(api)

    @classmethod
    def connect(cls, access: KubeAccess, timeout: float = 30.0) -> Cluster:
        """A client for `access`; no global configuration is touched."""
        cfg = client.Configuration()
        if not _token_kubeconfig(access.kubeconfig, cfg):
            from kubernetes import config  # exec plugins, client certificates, auth providers: the client's loader

            config.load_kube_config(config_file=str(access.kubeconfig), client_configuration=cfg, persist_config=False)
        grace = RestartGrace()
        cfg.retries = NotingRetry(
            total=3, connect=3, read=0, backoff_factor=0.5, status_forcelist=(502, 503, 504), grace=grace
        )
        return cls(client.ApiClient(cfg), access.server, timeout, grace)

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dynamic(self, cache_file: Path) -> DynamicClient:
        """A dynamic client (any kind the server serves) on this connection; discovery is its first request."""
        try:
            return DynamicClient(self.api, cache_file=str(cache_file))
        except Exception as e:  # discovery: 401, TLS and connection errors surface here
            raise self.explain(e) from None

    def explain(self, error: BaseException) -> PluginError:
        return explain(error, self.server)

    def call(self, fn: Callable[..., T], *args: Any, expect: Collection[int] = (), **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` with the request timeout; failures become PluginError / AuthError, except an
        ApiException whose status is in `expect` (the caller's to handle, e.g. 404)."""
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except ApiException as e:
            if e.status in expect:
                raise
            raise self.explain(e) from None
        except REQUEST_ERRORS as e:
            raise self.explain(e) from None

    def raw(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """`fn`'s response as plain JSON (the API's own camelCase shape); API errors are left to the caller."""
        resp = fn(*args, _preload_content=False, _request_timeout=timeout or self.timeout, **kwargs)
        return json.loads(resp.data)

    def read(
        self, fn: Callable[..., Any], *args: Any, deadline: float | None = None, missing_ok: bool = False, **kwargs: Any
    ) -> Any:
        """`raw`, with failures explained; with a `deadline`, transient failures are retried until then; with
        `missing_ok`, an object that is not there (404) reads as {}."""

        def once() -> Any:
            try:
                return self.raw(fn, *args, **kwargs)
            except ApiException as e:
                if missing_ok and e.status == 404:
                    return {}
                raise

        if deadline is not None:
            return self.retrying(once, deadline)
        try:
            return once()
        except REQUEST_ERRORS as e:
            raise self.explain(e) from None

    def should_retry(self, error: BaseException, deadline: float, delay: float) -> bool:
        """Is `error` worth another try after `delay` seconds, before `deadline`? (`shared.restart_grace`'s rules:
        lost connections and 429/5xx until the deadline, 401/403 only just after a lost connection.)"""
        return self.grace.should_retry(error, deadline, delay)

    def retrying(self, what: Callable[[], T], deadline: float, log: Log | None = None, action: str = "") -> T:
        """`what()`, retried on transient failures until `deadline`; other failures explained."""
        delay = BACKOFF_START
        while True:
            try:
                return what()
            except REQUEST_ERRORS as e:
                if not self.should_retry(e, deadline, delay):
                    raise self.explain(e) from None
                if log is not None:
                    log.progress(f"{action}: {self.explain(e)}; retrying")
                time.sleep(delay)
                delay = next_delay(delay)


def _token_kubeconfig(path: Path, cfg: client.Configuration) -> bool:
    """The kubeconfig shared.auth writes (as JSON) for a server and a token file, read directly into `cfg` (False
    for any other): the client's loader imports OAuth, exec and cloud auth support first, a good part of a
    plugin's start."""
    try:
        kubeconfig = json.loads(path.read_text())
        (cluster,) = [entry["cluster"] for entry in kubeconfig["clusters"]]
        (user,) = [entry["user"] for entry in kubeconfig["users"]]
    except (KeyError, TypeError, ValueError):
        return False
    plain = {"server", "certificate-authority", "insecure-skip-tls-verify"}
    if set(user) != {"tokenFile"} or not set(cluster) <= plain:
        return False
    cfg.host = cluster["server"]
    cfg.api_key["authorization"] = "Bearer " + Path(user["tokenFile"]).read_text().strip()
    cfg.verify_ssl = not cluster.get("insecure-skip-tls-verify", False)
    cfg.ssl_ca_cert = cluster.get("certificate-authority")
    return True


def explain(error: BaseException, server: str) -> PluginError:
    """One line for an API failure: 401/403 name what was refused, TLS and connection errors the server."""
    if isinstance(error, ApiException):
        message = api_message(error)
        if error.status == 401:
            return AuthError(f"unauthorized (401) from {server}: the token was rejected")
        if error.status == 403:
            return AuthError(f"forbidden (403) from {server}: {message}")
        return PluginError(f"{error.status} {error.reason} from {server}: {message}")
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        error = error.reason or error
    if isinstance(error, (urllib3.exceptions.SSLError, ssl.SSLError)) and not tls_cut(error):
        return AuthError(f"TLS verification of {server} failed (wrong kubernetes_cert?): {_first_line(error)}")
    if isinstance(error, (urllib3.exceptions.HTTPError, OSError)):
        return PluginError(f"cannot reach {server}: {_first_line(error)}")
    return PluginError(f"{type(error).__name__} talking to {server}: {_first_line(error)}")


def api_message(error: ApiException) -> str:
    """The `message` of the API's Status body, else the HTTP reason."""
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
