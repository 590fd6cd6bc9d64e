"""kubectl-helm-deploy, canary: weight as a replica ratio beside the stable Deployment; promote; abort."""

from __future__ import annotations

from kubernetes import client

from .conftest import Deploy
from .deploy_support import FIXTURES, IMAGE, deployment, images, ready_pod_images
from .stacklib import Namespace, wait_for

CANARY = str(FIXTURES / "canary")


def _stable(deploy: Deploy) -> None:
    run = deploy(manifests=CANARY, image=f"{IMAGE}:v1")
    assert run.code == 0, run.out


def _endpoint_count(admin: client.ApiClient, ns: str, service: str) -> int:
    slices = client.DiscoveryV1Api(admin).list_namespaced_endpoint_slice(
        ns, label_selector=f"kubernetes.io/service-name={service}"
    )
    return sum(1 for s in slices.items for e in s.endpoints or [] if not e.conditions or e.conditions.ready)


def test_canary_quarter_then_promote(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> None:
    _stable(deploy)
    run = deploy(manifests=CANARY, image=f"{IMAGE}:v2", strategy="canary", canary_weight="25", service="web")
    assert run.code == 0, run.out
    canary = deployment(kube_admin, namespace.name, "web-canary")
    assert canary is not None and canary.spec.replicas == 1  # 25% of 4
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"  # stable untouched
    # The stable Service selects both tracks: 4 stable + 1 canary Ready endpoints.
    assert sorted(ready_pod_images(kube_admin, namespace.name, "app=web")) == sorted(
        [f"{IMAGE}:v1"] * 4 + [f"{IMAGE}:v2"]
    )
    wait_for(lambda: _endpoint_count(kube_admin, namespace.name, "web") == 5, 30, what="5 endpoints")

    run = deploy(manifests=CANARY, image=f"{IMAGE}:v2", strategy="canary", canary_action="promote", service="web")
    assert run.code == 0, run.out
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v2"
    assert deployment(kube_admin, namespace.name, "web-canary") is None


def test_canary_abort_removes_canary_only(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> None:
    _stable(deploy)
    run = deploy(manifests=CANARY, image=f"{IMAGE}:v2", strategy="canary", canary_steps="25,50", service="web")
    assert run.code == 0, run.out
    canary = deployment(kube_admin, namespace.name, "web-canary")
    assert canary is not None and canary.spec.replicas == 4  # the last step: 50% of the traffic is 4 pods beside 4
    run = deploy(manifests=CANARY, strategy="canary", canary_action="abort", service="web")
    assert run.code == 0, run.out
    assert deployment(kube_admin, namespace.name, "web-canary") is None
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"


def test_crashing_canary_is_removed(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> None:
    _stable(deploy)
    run = deploy(manifests=CANARY, image=f"{IMAGE}:crash", strategy="canary", service="web")
    assert run.code == 1, run.out
    assert "canary removed" in run.out.strip().splitlines()[-1]
    assert deployment(kube_admin, namespace.name, "web-canary") is None


def test_canary_ingress_copy(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> None:
    _stable(deploy)
    run = deploy(
        manifests=CANARY,
        image=f"{IMAGE}:v2",
        strategy="canary",
        canary_weight="30",
        service="web",
        canary_ingress="site",
    )
    assert run.code == 0, run.out
    ing = client.NetworkingV1Api(kube_admin).read_namespaced_ingress("site-canary", namespace.name)
    assert ing.metadata.annotations["nginx.ingress.kubernetes.io/canary"] == "true"
    assert ing.metadata.annotations["nginx.ingress.kubernetes.io/canary-weight"] == "30"
    assert ing.spec.rules[0].http.paths[0].backend.service.name == "web-canary"
    svc = client.CoreV1Api(kube_admin).read_namespaced_service("web-canary", namespace.name)
    assert svc.spec.selector == {"app": "web", "shipline.io/track": "canary"}


def test_canary_naming_a_missing_service_is_an_input_error(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    _stable(deploy)
    run = deploy(manifests=CANARY, image=f"{IMAGE}:v2", strategy="canary", service="nope")
    assert run.code == 2, run.out
    assert 'PLUGIN_SERVICE: "nope" is not a Service in the manifests or the namespace' in run.out.splitlines()[-1]
    assert deployment(kube_admin, namespace.name, "web-canary") is None
