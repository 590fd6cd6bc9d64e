"""The one way to talk to the Kubernetes API: `Cluster` owns the connection, the request timeout, the translation
of failures into one clear line, the retry of transient failures (riding out an API server restart, see
`shared.restart_grace`), and plain-JSON requests.

Requests by REST path (`cluster.read(api_path(...))`, `cluster.send(...)`) go over a plain keep-alive connection
(the stdlib's http.client, shared.kube_rest) when the kubeconfig is the token one shared.auth writes: a plugin's
first requests leave before the Kubernetes client (its generated API classes, urllib3) is even imported, which is
most of a plugin's start-up. The typed API groups (`core`, `apps`, ...) and the watches build that client on first
use (shared.kube_client).
"""

from __future__ import annotations

import contextlib
import datetime
import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, overload
from urllib.parse import quote

from kubernetes.client.exceptions import ApiException

from shared.auth import KubeAccess
from shared.errors import AuthError, PluginError
from shared.kube_rest import Rest, read_endpoint
from shared.log import Log
from shared.restart_grace import BACKOFF_START, RestartGrace, loaded_urllib3, next_delay, tls_cut

if TYPE_CHECKING:
    from kubernetes import client

T = TypeVar("T")


def request_errors() -> tuple[type[BaseException], ...]:
    """What a failed request can raise: the API's answer, or the connection's trouble (urllib3's errors only
    once the typed client has loaded it). Called in `except` clauses, so it is read when something failed."""
    urllib3 = loaded_urllib3()
    return (ApiException, http.client.HTTPException, OSError) + ((urllib3.exceptions.HTTPError,) if urllib3 else ())


def api_path(api_version: str, plural: str = "", namespace: str = "", name: str = "") -> str:
    """The REST path of a collection or one object: ("apps/v1", "deployments", "web", "app") ->
    /apis/apps/v1/namespaces/web/deployments/app (the core group, "v1", is under /api); without a plural, the
    group version's list of resources (discovery)."""
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    if namespace:
        path += f"/namespaces/{quote(namespace, safe='')}"
    path += f"/{plural}" if plural else ""
    return path + (f"/{quote(name, safe='')}" if name else "")


class ApiGroup(Generic[T]):
    """A typed API group of the Kubernetes client (`cluster.core`, ...), on the cluster's one ApiClient; the
    client's module is imported on first use, not when shared.kube is."""

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    @overload
    def __get__(self, cluster: None, owner: type[Cluster]) -> ApiGroup[T]: ...
    @overload
    def __get__(self, cluster: Cluster, owner: type[Cluster]) -> T: ...
    def __get__(self, cluster: Cluster | None, owner: type[Cluster]) -> ApiGroup[T] | T:
        if cluster is None:
            return self
        from kubernetes import client

        return cast(T, getattr(client, self.class_name)(cluster.api))


class Cluster:
    """One API server: requests by path, and typed API groups on one lazily built ApiClient; every request with a
    timeout and explained failures."""

    def __init__(
        self,
        server: str,
        make_api: Callable[[], client.ApiClient],
        rest: Rest | None = None,
        timeout: float = 30.0,
        grace: RestartGrace | None = None,
    ) -> None:
        self.server, self.timeout = server, timeout
        self.grace = grace or RestartGrace()  # one per connection: every thread using it shares the window
        self._make_api, self._rest = make_api, rest
        self._api: client.ApiClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def connect(cls, access: KubeAccess, timeout: float = 30.0) -> Cluster:
        """A client for `access`; no global configuration is touched, nothing is connected yet."""
        grace = RestartGrace()
        endpoint = read_endpoint(access.kubeconfig)

        def make_api() -> client.ApiClient:
            from shared.kube_client import api_client

            return api_client(access.kubeconfig, endpoint, grace)

        return cls(access.server, make_api, Rest(endpoint, grace) if endpoint else None, timeout, grace)

    @property
    def api(self) -> client.ApiClient:
        """The Kubernetes client's ApiClient (built, and the client imported, on first use)."""
        with self._lock:
            if self._api is None:
                self._api = self._make_api()
            return self._api

    core: ApiGroup[client.CoreV1Api] = ApiGroup("CoreV1Api")
    apps: ApiGroup[client.AppsV1Api] = ApiGroup("AppsV1Api")
    batch: ApiGroup[client.BatchV1Api] = ApiGroup("BatchV1Api")
    discovery: ApiGroup[client.DiscoveryV1Api] = ApiGroup("DiscoveryV1Api")

    def close(self) -> None:
        if self._rest is not None:
            self._rest.close()
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def explain(self, error: BaseException) -> PluginError:
        return explain(error, self.server)

    @contextlib.contextmanager
    def explained(self, expect: Collection[int] = ()) -> Iterator[None]:
        """Failures inside become PluginError / AuthError, except an ApiException whose status is in `expect`
        (the caller's to handle, e.g. 404)."""
        try:
            yield
        except ApiException as e:
            if e.status in expect:
                raise
            raise self.explain(e) from None
        except request_errors() as e:
            raise self.explain(e) from None

    def call(self, fn: Callable[..., T], *args: Any, expect: Collection[int] = (), **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` (a typed API method) with the request timeout, failures `explained`."""
        kwargs.setdefault("_request_timeout", self.timeout)
        with self.explained(expect):
            return fn(*args, **kwargs)

    def send(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
        expect: Collection[int] = (), **query: Any,
    ) -> Any:  # fmt: skip
        """One request to an `api_path` (its query in `query`, e.g. field_manager=...), its answer as plain JSON,
        failures `explained`."""
        with self.explained(expect):
            data = self._request(method, path, _query(query), self.timeout, body, content_type)
        return json.loads(data) if data else {}

    def raw(self, what: str | Callable[..., Any], *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """The answer as plain JSON (the API's own camelCase shape); API errors are left to the caller. `what` is an
        `api_path` (its query in `kwargs`, e.g. label_selector=...) or a typed API method (its arguments)."""
        timeout = timeout or self.timeout
        if isinstance(what, str):
            return json.loads(self._request("GET", what, _query(kwargs), timeout))
        resp = what(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
        return json.loads(resp.data)

    def read(
        self, what: str | Callable[..., Any], *args: Any, deadline: float | None = None, missing_ok: bool = False,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        """`raw`, with failures explained; with a `deadline`, transient failures are retried until then; with
        `missing_ok`, an object that is not there (404) reads as {}."""

        def once() -> Any:
            try:
                return self.raw(what, *args, **kwargs)
            except ApiException as e:
                if missing_ok and e.status == 404:
                    return {}
                raise

        if deadline is not None:
            return self.retrying(once, deadline)
        try:
            return once()
        except request_errors() as e:
            raise self.explain(e) from None

    def _request(
        self, method: str, path: str, query: dict[str, str], timeout: float, body: Any = None,
        content_type: str = "application/json",
    ) -> bytes:  # fmt: skip
        if self._rest is not None:
            payload = None if body is None else json.dumps(body, default=_isoformat).encode()
            return self._rest.request(method, path, query, timeout, payload, content_type)
        # Another kind of kubeconfig: the same request through the typed client, which knows its authentication.
        headers = {"Accept": "application/json", **({"Content-Type": content_type} if body is not None else {})}
        resp = self.api.call_api(
            path, method, query_params=list(query.items()), header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout,
        )  # fmt: skip
        return resp.data  # type: ignore[no-any-return]

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
            except request_errors() as e:
                if not self.should_retry(e, deadline, delay):
                    raise self.explain(e) from None
                if log is not None:
                    log.progress(f"{action}: {self.explain(e)}; retrying")
                time.sleep(delay)
                delay = next_delay(delay)


def _isoformat(value: Any) -> str:
    """Dates in a manifest (YAML reads an unquoted 2024-01-01 as one), as the typed client's serializer writes them."""
    if isinstance(value, datetime.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _query(params: Mapping[str, Any]) -> dict[str, str]:
    """snake_case keyword arguments as the API's camelCase query (label_selector -> labelSelector)."""
    query = {}
    for name, value in params.items():
        if value is not None:
            head, *rest = name.split("_")
            key = head + "".join(part.title() for part in rest)
            query[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return query


def explain(error: BaseException, server: str) -> PluginError:
    """One line for an API failure: 401/403 name what was refused, TLS and connection errors the server."""
    if isinstance(error, ApiException):
        message = api_message(error)
        if error.status == 401:
            return AuthError(f"unauthorized (401) from {server}: the token was rejected")
        if error.status == 403:
            return AuthError(f"forbidden (403) from {server}: {message}")
        return PluginError(f"{error.status} {error.reason} from {server}: {message}")
    urllib3 = loaded_urllib3()
    if urllib3 and isinstance(error, urllib3.exceptions.MaxRetryError):
        error = error.reason or error
    tls = isinstance(error, ssl.SSLError) or (urllib3 and isinstance(error, urllib3.exceptions.SSLError))
    if tls and not tls_cut(error):  # a connection closed mid-handshake is "cannot reach" below
        return AuthError(f"TLS verification of {server} failed (wrong kubernetes_cert?): {_first_line(error)}")
    if isinstance(error, request_errors()):
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
