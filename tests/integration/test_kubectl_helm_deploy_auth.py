"""kubectl-helm-deploy: cluster access as the seed configures it (server, CA, token), and bad inputs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from kubernetes import client

from tests.certs import self_signed

from .conftest import Deploy
from .deploy_support import FIXTURES, IMAGE
from .stacklib import Namespace, issue_token

APP = str(FIXTURES / "app")


def _nothing_applied(admin: client.ApiClient, ns: str) -> None:
    assert client.AppsV1Api(admin).list_namespaced_deployment(ns).items == []
    assert client.CoreV1Api(admin).list_namespaced_service(ns).items == []
    names = [c.metadata.name for c in client.CoreV1Api(admin).list_namespaced_config_map(ns).items]
    assert [n for n in names if n != "kube-root-ca.crt"] == []  # the cluster's own ConfigMap comes and goes


@pytest.mark.parametrize("ca", ["pem", "base64"])
def test_ca_as_pem_or_base64(deploy: Deploy, namespace: Namespace, ca: str) -> None:
    pem = Path(namespace.ca_file).read_text()
    cert = pem if ca == "pem" else base64.b64encode(pem.encode()).decode()
    run = deploy(kubernetes_cert=cert, manifests=APP, image=f"{IMAGE}:v1", wait="false")
    assert run.code == 0, run.out


def test_token_without_rights_is_a_clear_403(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    core = client.CoreV1Api(kube_admin)
    core.create_namespaced_service_account(namespace.name, {"metadata": {"name": "nobody"}})
    run = deploy(kubernetes_token=issue_token(kube_admin, namespace.name, "nobody"), manifests=APP, image=f"{IMAGE}:v1")
    assert run.code == 1
    last = run.out.strip().splitlines()[-1]
    assert "forbidden (403)" in last and "cannot get resource" in last and f'namespace "{namespace.name}"' in last, last
    _nothing_applied(kube_admin, namespace.name)


def test_bad_token_is_unauthorized(deploy: Deploy, namespace: Namespace) -> None:
    run = deploy(manifests=APP, kubernetes_token="not-a-real-token-123")
    assert run.code == 1
    assert f"unauthorized (401) from {namespace.server}" in run.out.strip().splitlines()[-1]
    assert "not-a-real-token-123" not in run.out


def test_wrong_ca_is_a_clear_tls_error(deploy: Deploy, tmp_path: Path) -> None:
    cert = self_signed(tmp_path, "not-the-cluster-ca")
    run = deploy(manifests=APP, kubernetes_cert=cert.read_text())
    assert run.code == 1
    last = run.out.strip().splitlines()[-1]
    assert "TLS verification of" in last and "kubernetes_cert" in last, last


BAD_INPUTS = [
    pytest.param({"strategy": "yolo"}, "PLUGIN_STRATEGY", id="unknown-strategy"),
    pytest.param({"manifests": "no/such/dir"}, "PLUGIN_MANIFESTS", id="missing-manifests-path"),
    pytest.param({"manifests": str(FIXTURES / "broken" / "bad.yaml")}, "malformed YAML", id="malformed-yaml"),
    pytest.param(
        {"manifests": str(FIXTURES / "broken" / "unset.yaml")},
        "${SHIPLINE_TEST_SURELY_UNSET} is not set",
        id="unset-variable",
    ),
    pytest.param(
        {"chart": str(FIXTURES / "chart-web")}, "PLUGIN_CHART: set either manifests or chart", id="both-modes"
    ),
    pytest.param({"strategy": "canary", "canary_weight": "0"}, "PLUGIN_CANARY_WEIGHT", id="canary-weight-0"),
    pytest.param({"strategy": "canary", "canary_weight": "101"}, "PLUGIN_CANARY_WEIGHT", id="canary-weight-101"),
    pytest.param({"timeout": "soon"}, 'PLUGIN_TIMEOUT: "soon" is not a duration', id="bad-duration"),
    pytest.param({"image": "Not An Image"}, "PLUGIN_IMAGE", id="bad-image"),
    pytest.param({"image": "elsewhere/other:1"}, "PLUGIN_IMAGE: no container in the manifests runs", id="image-unused"),
    pytest.param({"containers": "nope"}, "PLUGIN_CONTAINERS", id="unknown-container"),
    pytest.param({"strategy": "blue-green"}, "PLUGIN_SERVICE", id="blue-green-without-service"),
    pytest.param(
        {"strategy": "blue-green", "service": "web", "preview_service": "nope"},
        'PLUGIN_PREVIEW_SERVICE: "nope" is not a Service in the manifests or the namespace',
        id="preview-service-missing",
    ),
    pytest.param(
        {"strategy": "canary", "service": "web", "canary_ingress": "nope"},
        'PLUGIN_CANARY_INGRESS: "nope" is not an Ingress in the manifests or the namespace',
        id="canary-ingress-missing",
    ),
    pytest.param({"max_surge": "lots"}, "PLUGIN_MAX_SURGE", id="bad-max-surge"),
    pytest.param({"publish_file": "missing.json", "image": ""}, "PLUGIN_PUBLISH_FILE", id="missing-handoff"),
]


@pytest.mark.parametrize(("settings", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_nothing_applied(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient, settings: dict[str, str], message: str
) -> None:
    given = {"manifests": APP, "image": f"{IMAGE}:v2", **settings}
    run = deploy(**{k: v for k, v in given.items() if v})
    assert run.code == 2, run.out
    last = run.out.strip().splitlines()[-1]
    assert message in last, last
    _nothing_applied(kube_admin, namespace.name)
