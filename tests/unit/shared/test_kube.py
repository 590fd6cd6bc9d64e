"""shared.kube_rest.read_endpoint reads the kubeconfig shared.auth writes for a server and token without the
client's loader (for the raw reads and shared.kube_client.api_client), and gives every other kubeconfig to the
loader: both must configure the client alike. The paths and queries of the raw reads. And `shared.kube` (with
its kube_client/kube_rest halves) is the only way the code talks to a cluster."""

from __future__ import annotations

import ast
import http.client
import json
import re
import ssl
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes import client, config

from shared.auth import SecretDir, _write_kubeconfig
from shared.errors import AuthError
from shared.kube import _query, api_path, explain
from shared.kube_client import api_client
from shared.kube_rest import read_endpoint, retried
from shared.restart_grace import RestartGrace

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def by_loader(path: str) -> client.Configuration:
    cfg = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=cfg, persist_config=False)
    return cfg


@pytest.mark.parametrize(
    ("server", "ca", "insecure"),
    [
        pytest.param("https://10.0.0.1:6443", CA, False, id="verified"),
        pytest.param("https://10.0.0.1:6443", None, True, id="insecure"),
        pytest.param("http://127.0.0.1:8080", None, False, id="plain-http"),
    ],
)
def test_token_kubeconfig_configures_the_client_like_the_loader(server: str, ca: str | None, insecure: bool) -> None:
    with SecretDir() as secrets:
        access = _write_kubeconfig(server, "s3cret-token", ca, insecure, "", secrets)
        endpoint = read_endpoint(access.kubeconfig)
        assert endpoint is not None and "s3cret" not in repr(endpoint)
        direct = api_client(access.kubeconfig, endpoint, RestartGrace()).configuration
        loaded = by_loader(str(access.kubeconfig))
    assert direct.host == loaded.host == server
    assert direct.verify_ssl == loaded.verify_ssl == (not insecure)
    assert direct.ssl_ca_cert == loaded.ssl_ca_cert
    assert direct.auth_settings()["BearerToken"]["value"] == loaded.auth_settings()["BearerToken"]["value"]
    assert loaded.auth_settings()["BearerToken"]["value"] == "Bearer s3cret-token"


def test_other_kubeconfigs_go_to_the_loader() -> None:
    with SecretDir() as secrets:
        access = _write_kubeconfig("https://10.0.0.1:6443", "t", CA, False, "", secrets)
        kubeconfig = json.loads(access.kubeconfig.read_text())
        assert read_endpoint(secrets.write("as-yaml", yaml.safe_dump(kubeconfig))) is None
        kubeconfig["users"][0]["user"] = {"client-certificate-data": "QQ==", "client-key-data": "QQ=="}
        assert read_endpoint(secrets.write("cert", json.dumps(kubeconfig))) is None


@pytest.mark.parametrize(
    ("args", "path"),
    [
        pytest.param(("v1", "pods", "web"), "/api/v1/namespaces/web/pods", id="core-collection"),
        pytest.param(
            ("apps/v1", "deployments", "web", "app"), "/apis/apps/v1/namespaces/web/deployments/app", id="object"
        ),
        pytest.param(("v1", "namespaces", "", "web"), "/api/v1/namespaces/web", id="cluster-scoped"),
        pytest.param(("batch/v1", "jobs", "a b", "x/y"), "/apis/batch/v1/namespaces/a%20b/jobs/x%2Fy", id="quoted"),
    ],
)
def test_api_path(args: tuple[str, ...], path: str) -> None:
    assert api_path(*args) == path


def test_query_is_the_apis_camel_case() -> None:
    query = _query({"label_selector": "app=web", "field_selector": None, "allow_watch_bookmarks": True, "limit": 5})
    assert query == {"labelSelector": "app=web", "allowWatchBookmarks": "true", "limit": "5"}


ROOT = Path(__file__).resolve().parents[3]
# What makes a connection or a request: the ApiClient, its configuration and loaders, the API groups, the dynamic
# client. Model classes (request bodies) and ApiException are data, not calls.
CALLERS = re.compile(r"ApiClient|Configuration|\w+V\d\w*Api|DynamicClient|load_\w*config|new_client_from_config")


def client_uses(path: Path) -> list[str]:
    """`line: name` for every name in `path` that builds a Kubernetes client or API group."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kubernetes"):
            names = [alias.name for alias in node.names] + [node.module or ""]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        else:
            continue
        found += [f"{node.lineno}: {name}" for name in names if CALLERS.fullmatch(name) or name == "kubernetes.config"]
    return found


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in sorted((ROOT / "shared").glob("*.py")) + sorted((ROOT / "plugins").glob("*/*.py"))
        if p.name not in ("kube.py", "kube_client.py", "kube_rest.py")
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_cluster_talks_to_the_cluster(path: Path) -> None:
    assert client_uses(path) == [], (
        f"{path.relative_to(ROOT)} builds its own Kubernetes client; use shared.kube.Cluster"
    )


def test_the_check_sees_a_client_built_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from kubernetes import client\n\napi = client.CoreV1Api(client.ApiClient())\n")
    assert client_uses(path) == ["3: CoreV1Api", "3: ApiClient"]


@pytest.mark.parametrize(
    ("cause", "auth", "words"),
    [
        pytest.param(ssl.SSLCertVerificationError("certificate verify failed"), True, "TLS verification", id="bad-ca"),
        pytest.param(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), False, "cannot reach", id="cut"),
    ],
)
def test_explain_tells_a_failed_verification_from_a_cut_handshake(cause: ssl.SSLError, auth: bool, words: str) -> None:
    error = urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError(cause))  # type: ignore[arg-type]
    explained = explain(error, "https://10.0.0.1:6443")
    assert isinstance(explained, AuthError) is auth
    assert str(explained).startswith(f"{words}") and "https://10.0.0.1:6443" in str(explained)


@pytest.mark.parametrize(
    ("method", "sent", "error", "status", "again"),
    [
        pytest.param("PATCH", False, ConnectionRefusedError(111, "refused"), 0, True, id="not-connected-any-method"),
        pytest.param("GET", True, ConnectionResetError(104, "reset"), 0, True, id="get-lost-mid-request"),
        pytest.param("GET", True, http.client.RemoteDisconnected("closed"), 0, True, id="get-no-answer"),
        pytest.param("GET", False, ssl.SSLEOFError(8, "EOF in violation of protocol"), 0, True, id="tls-cut"),
        pytest.param("PATCH", True, ConnectionResetError(104, "reset"), 0, False, id="patch-sent-not-repeated"),
        pytest.param("GET", True, TimeoutError("timed out"), 0, False, id="timeout"),
        pytest.param("GET", False, ssl.SSLCertVerificationError("bad"), 0, False, id="tls-verification"),
        pytest.param("GET", True, None, 503, True, id="get-503"),
        pytest.param("DELETE", True, None, 503, False, id="delete-503"),
        pytest.param("GET", True, None, 500, False, id="get-500"),
        pytest.param("GET", True, None, 404, False, id="get-404"),
    ],
)
def test_rest_retries_like_the_typed_clients_policy(
    method: str, sent: bool, error: BaseException | None, status: int, again: bool
) -> None:
    assert retried(method, sent=sent, error=error, status=status) is again
