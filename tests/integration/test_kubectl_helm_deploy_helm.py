"""kubectl-helm-deploy, helm mode through pyhelm3, as the namespace's least-privilege deployer."""

from __future__ import annotations

import base64
import gzip
import json

from kubernetes import client

from .conftest import Deploy
from .deploy_support import FIXTURES, IMAGE, images
from .stacklib import Namespace

CHART = str(FIXTURES / "chart-web")


def _helm(stack: dict[str, str]) -> dict[str, str]:
    return {"chart": CHART, "release": "shop", "image_value": "image", "helm_bin": stack["HELM_BIN"]}


def test_install_upgrade_and_failed_upgrade_rolled_back(
    stack: dict[str, str], deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    helm = _helm(stack)
    run = deploy(image=f"{IMAGE}:v1", **helm)
    assert run.code == 0, run.out
    assert run.report["revisions"]["shop"] == "1"
    assert images(kube_admin, namespace.name, "shop-web") == {"web": f"{IMAGE}:v1"}

    run = deploy(image=f"{IMAGE}:v2", set="replicaCount=3", **helm)
    assert run.code == 0, run.out
    assert run.report["revisions"]["shop"] == "2"
    dep = client.AppsV1Api(kube_admin).read_namespaced_deployment("shop-web", namespace.name)
    assert dep.spec.replicas == 3 and dep.spec.template.spec.containers[0].image == f"{IMAGE}:v2"

    run = deploy(image=f"{IMAGE}:crash", **helm)
    assert run.code == 1, run.out
    last = run.out.strip().splitlines()[-1]
    assert "CrashLoopBackOff" in last and "rolled back to revision 2" in last, last
    assert images(kube_admin, namespace.name, "shop-web") == {"web": f"{IMAGE}:v2"}


def test_release_stuck_pending_is_recovered(
    stack: dict[str, str], deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    helm = _helm(stack)
    assert deploy(image=f"{IMAGE}:v1", **helm).code == 0
    # A cancelled upgrade leaves revision 2 in pending-upgrade ("another operation is in progress"): write it
    # as helm would, a copy of revision 1 renumbered and marked pending.
    core = client.CoreV1Api(kube_admin)
    first = core.read_namespaced_secret("sh.helm.release.v1.shop.v1", namespace.name)
    # helm stores base64(gzip(json)) as the Secret's bytes; the API adds its own base64.
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(first.data["release"]))))
    release["version"] = 2
    release["info"]["status"] = "pending-upgrade"
    encoded = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(release).encode()))).decode()
    labels = {**first.metadata.labels, "status": "pending-upgrade", "version": "2"}
    core.create_namespaced_secret(
        namespace.name,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="sh.helm.release.v1.shop.v2", labels=labels),
            type="helm.sh/release.v1",
            data={"release": encoded},
        ),
    )
    run = deploy(image=f"{IMAGE}:v2", **helm)
    assert run.code == 0, run.out
    assert "stuck in pending-upgrade" in run.out
    assert images(kube_admin, namespace.name, "shop-web") == {"web": f"{IMAGE}:v2"}


def test_broken_chart_fails_lint_with_nothing_applied(
    stack: dict[str, str], deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    helm = {**_helm(stack), "chart": str(FIXTURES / "chart-broken")}
    run = deploy(image=f"{IMAGE}:v1", **helm)
    assert run.code == 2, run.out
    assert "PLUGIN_CHART: helm lint failed" in run.out.strip().splitlines()[-1]
    assert client.AppsV1Api(kube_admin).list_namespaced_deployment(namespace.name).items == []
    assert [
        s.metadata.name
        for s in client.CoreV1Api(kube_admin).list_namespaced_secret(namespace.name).items
        if s.type == "helm.sh/release.v1"
    ] == []
