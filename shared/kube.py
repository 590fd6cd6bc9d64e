"""The Kubernetes client, built once from a KubeAccess, and API errors turned into one clear line."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from shared.auth import KubeAccess
from shared.errors import AuthError, PluginError
from shared.restart_grace import NotingRetry, RestartGrace

T = TypeVar("T")


def api_client(access: KubeAccess, timeout: float = 30.0) -> client.ApiClient:
    """An ApiClient for `access`; no global configuration is touched."""
    cfg = client.Configuration()
    if not _token_kubeconfig(access.kubeconfig, cfg):
        from kubernetes import config  # exec plugins, client certificates, auth providers: the client's own loader

        config.load_kube_config(config_file=str(access.kubeconfig), client_configuration=cfg, persist_config=False)
    grace = RestartGrace()
    cfg.retries = NotingRetry(
        total=3, connect=3, read=0, backoff_factor=0.5, status_forcelist=(502, 503, 504), grace=grace
    )
    api = client.ApiClient(cfg)
    api.shipline_grace = grace  # type: ignore[attr-defined]  # shared by every thread using this client
    api.shipline_server = access.server  # type: ignore[attr-defined]  # for error messages
    api.shipline_timeout = timeout  # type: ignore[attr-defined]
    return api


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


def grace_of(api: client.ApiClient) -> RestartGrace:
    """The client's RestartGrace (one is attached to a client built elsewhere on first use)."""
    grace = getattr(api, "shipline_grace", None)
    if not isinstance(grace, RestartGrace):
        grace = RestartGrace()
        api.shipline_grace = grace  # type: ignore[attr-defined]
    return grace


def to_dict(api: client.ApiClient, obj: Any) -> dict[str, Any]:
    """A client model object as the API's own JSON shape (camelCase), for the pure helpers."""
    if isinstance(obj, dict):
        return obj
    return api.sanitize_for_serialization(obj)  # type: ignore[no-any-return]


def explain(error: BaseException, server: str) -> PluginError:
    """One line for an API failure: 401/403 name what was refused, TLS and connection errors the server."""
    if isinstance(error, ApiException):
        message = _api_message(error)
        if error.status == 401:
            return AuthError(f"unauthorized (401) from {server}: the token was rejected")
        if error.status == 403:
            return AuthError(f"forbidden (403) from {server}: {message}")
        return PluginError(f"{error.status} {error.reason} from {server}: {message}")
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        error = error.reason or error
    if isinstance(error, (urllib3.exceptions.SSLError, ssl.SSLError)):
        return AuthError(f"TLS verification of {server} failed (wrong kubernetes_cert?): {_first_line(error)}")
    if isinstance(error, (urllib3.exceptions.HTTPError, OSError)):
        return PluginError(f"cannot reach {server}: {_first_line(error)}")
    return PluginError(f"{type(error).__name__} talking to {server}: {_first_line(error)}")


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (json.JSONDecodeError, AttributeError):
        return str(error.reason)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def call(api: client.ApiClient, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` with API failures turned into PluginError / AuthError."""
    kwargs.setdefault("_request_timeout", getattr(api, "shipline_timeout", 30.0))
    try:
        return fn(*args, **kwargs)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as e:
        raise explain(e, getattr(api, "shipline_server", "the API server")) from None
