"""kubectl-helm-deploy, manifests mode with the rolling strategy, on the real stack as the deployer."""

from __future__ import annotations

import threading

from kubernetes import client, watch

from .conftest import Deploy
from .deploy_support import FIXTURES, IMAGE, deployment, fully_available, images, ready_pod_images
from .stacklib import Namespace

APP = str(FIXTURES / "app")


def test_apply_then_reapply_changes_nothing(deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient) -> None:
    first = deploy(manifests=APP, image=f"{IMAGE}:v1")
    assert first.code == 0, first.out
    assert {(o["kind"], o["action"]) for o in first.report["objects"]} == {
        ("ConfigMap", "created"),
        ("Service", "created"),
        ("Deployment", "created"),
    }
    assert fully_available(kube_admin, namespace.name, "web")
    cm = client.CoreV1Api(kube_admin).read_namespaced_config_map("web-config", namespace.name)
    assert cm.data == {"greeting": "hello"}  # ${GREETING} substituted
    assert images(kube_admin, namespace.name, "web") == {
        "app": f"{IMAGE}:v1",
        "proxy": "registry.local/shipline/proxy:1.0",
    }

    again = deploy(manifests=APP, image=f"{IMAGE}:v1")
    assert again.code == 0, again.out
    assert {o["action"] for o in again.report["objects"]} == {"unchanged"}
    assert "Deployment/web unchanged" in again.out


def test_rolling_upgrade_honours_surge_and_unavailable(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    assert deploy(manifests=APP, image=f"{IMAGE}:v1").code == 0
    # Watch every ReplicaSet of the Deployment during the upgrade: with maxSurge 1 / maxUnavailable 0 the replicas
    # the controller asks of them never exceed 5 (their spec: a status may still count a pod being deleted) and
    # the ready ones never drop below 4.
    seen: dict[str, tuple[int, int]] = {}
    peaks: list[tuple[int, int]] = []
    stop = threading.Event()
    w = watch.Watch()

    def observe() -> None:
        apps = client.AppsV1Api(kube_admin)
        stream = w.stream(
            apps.list_namespaced_replica_set, namespace.name, label_selector="app=web", timeout_seconds=120
        )
        try:
            for event in stream:
                rs = event["object"]
                seen[rs.metadata.name] = (rs.spec.replicas or 0, rs.status.ready_replicas or 0)
                peaks.append((sum(r for r, _ in seen.values()), sum(a for _, a in seen.values())))
                if stop.is_set():
                    break
        except Exception:  # noqa: BLE001 - w.stop() closes the stream under us
            pass

    watcher = threading.Thread(target=observe, daemon=True)
    watcher.start()
    run = deploy(manifests=APP, image=f"{IMAGE}:v2", max_surge="1", max_unavailable="0")
    stop.set()
    w.stop()
    assert run.code == 0, run.out
    assert run.report["serving"]["web"]["app"] == f"{IMAGE}:v2"
    dep = deployment(kube_admin, namespace.name, "web")
    assert dep is not None
    assert dep.spec.strategy.rolling_update.max_surge == 1 and dep.spec.strategy.rolling_update.max_unavailable == 0
    assert len(seen) == 2, seen  # old and new ReplicaSet
    assert max(total for total, _ in peaks) <= 5, peaks
    assert min(ready for _, ready in peaks) >= 4, peaks  # maxUnavailable 0: never fewer than 4 ready
    assert ready_pod_images(kube_admin, namespace.name, "app=web") == [f"{IMAGE}:v2"] * 4


def test_dry_run_prints_a_diff_and_changes_nothing(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    assert deploy(manifests=APP, image=f"{IMAGE}:v1").code == 0
    run = deploy(manifests=APP, image=f"{IMAGE}:v2", dry_run="true")
    assert run.code == 0, run.out
    assert f'~ spec.template.spec.containers[app].image: "{IMAGE}:v1" -> "{IMAGE}:v2"' in run.out
    assert "Service/web would not change" in run.out
    # The plan printed is the plan the report records.
    plan = run.report["plan"]
    assert f"image Deployment/web[app]: {IMAGE}:v1 -> {IMAGE}:v2" in plan and "wait for deployment web" in plan
    assert all(line in run.out for line in plan), plan
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"


def test_prune_deletes_what_left_the_manifests(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    assert deploy(manifests=APP, image=f"{IMAGE}:v1").code == 0
    only_deployment = str(FIXTURES / "app" / "deployment.yaml")
    run = deploy(manifests=only_deployment, image=f"{IMAGE}:v1", prune="true")
    assert run.code == 0, run.out
    assert {(o["kind"], o["name"], o["action"]) for o in run.report["objects"]} >= {
        ("Service", "web", "deleted"),
        ("ConfigMap", "web-config", "deleted"),
    }
    names = [c.metadata.name for c in client.CoreV1Api(kube_admin).list_namespaced_config_map(namespace.name).items]
    assert "web-config" not in names
