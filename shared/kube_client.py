"""The Kubernetes client's ApiClient behind `shared.kube.Cluster`'s typed API groups and watches: built on first
use, so a plugin's first requests (by path, over http.client) never wait for its import."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import urllib3
from kubernetes import client
from urllib3.connectionpool import ConnectionPool
from urllib3.response import BaseHTTPResponse

from shared.restart_grace import Fault, RestartGrace, classify

if TYPE_CHECKING:
    from shared.kube_rest import Endpoint


def api_client(kubeconfig: Path, endpoint: Endpoint | None, grace: RestartGrace) -> client.ApiClient:
    """An ApiClient for the kubeconfig (no global configuration is touched). `endpoint` is what
    shared.kube_rest.read_endpoint read out of a token kubeconfig; any other kubeconfig (exec plugins, client
    certificates, auth providers) goes to the client's own loader."""
    cfg = client.Configuration()
    if endpoint is not None:
        cfg.host = endpoint.server
        cfg.api_key["authorization"] = "Bearer " + endpoint.token
        cfg.verify_ssl = not endpoint.insecure
        cfg.ssl_ca_cert = endpoint.ca_file
    else:
        from kubernetes import config  # OAuth, exec and cloud auth support: only for the kubeconfigs that need it

        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg, persist_config=False)
    cfg.retries = NotingRetry(
        total=3, connect=3, read=0, backoff_factor=0.5, status_forcelist=(502, 503, 504), grace=grace
    )
    return client.ApiClient(cfg)


class NotingRetry(urllib3.Retry):
    """urllib3's retry policy that also tells a RestartGrace about connection errors it retries by itself (so a
    401/403 right after a restart the client never saw as a failure is still within the window)."""

    def __init__(self, *args: Any, grace: RestartGrace | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grace = grace

    def new(self, **kwargs: Any) -> Self:
        renewed = super().new(**kwargs)
        renewed.grace = self.grace
        return renewed

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if error is not None and self.grace is not None and classify(error) is Fault.LOST:
            self.grace.connection_lost()
        return super().increment(method, url, response, error, _pool, _stacktrace)
