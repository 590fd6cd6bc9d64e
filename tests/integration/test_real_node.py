"""The plugins on the real node (`shipline-real`: kubelet + containerd + CNI + kube-proxy): pods are processes of
the example app's behaviour images (stack/app-images.sh), probes run, the kubelet reports crashes and
terminations, Services route through kube-proxy. No kwok stage rule is involved (the namespaces are placed on the
real node: `@pytest.mark.real_node`).

Plugins run in-process with the namespace's least-privilege deployer token, as in the other integration tests.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from demo.traffic import Traffic
from plugins.chaos_kill.__main__ import main as chaos_main
from plugins.deployment_verify.__main__ import main as verify_main
from plugins.kubectl_helm_deploy.__main__ import main as deploy_main
from tests.harness import Harness

from . import realnode
from .realnode import create, image, service_url, set_image, wait_answering, wait_available
from .stacklib import Namespace, wait_for

pytestmark = pytest.mark.real_node

REAL_NODE = "shipline-real"


@pytest.fixture
def run_plugin(
    deployer: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., tuple[int, str, dict[str, Any]]]:
    """run_plugin(main, **settings) -> (exit code, output, report): as a pipeline step, with the deployer token."""
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.json"

    def run(main: Callable[[list[str]], int], **settings: object) -> tuple[int, str, dict[str, Any]]:
        result = deployer.run(main, report, report_file=report, **settings)
        return result.code, result.out, result.report

    return run


def kubectl(stack: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [stack["KUBECTL"], "--kubeconfig", stack["KUBECONFIG"], *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# -- the node itself ---------------------------------------------------------------------------------------------


def test_pods_are_real_processes_behind_a_service(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace
) -> None:
    core = client.CoreV1Api(kube_admin)
    node = core.read_node(stack["REAL_NODE"])
    assert node.metadata.labels.get("shipline.io/node") == "real"
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})  # kwok does not manage it
    for kwok_node in core.list_node(label_selector="type=kwok").items:
        assert any(t.key == "kwok.x-k8s.io/node" for t in kwok_node.spec.taints or ())

    url = realnode.serve(kube_admin, namespace.name, "web", image(stack, "healthy"), replicas=2)
    pods = realnode.live_pods(kube_admin, namespace.name, "app=web")
    assert {p.spec.node_name for p in pods} == {REAL_NODE}
    for pod in pods:  # bridge addresses from the node's pod CIDR, not kwok's fake ones
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("10.244.0.0/16")
        assert pod.status.container_statuses[0].container_id.startswith("containerd://")
        assert not [e for e in core.list_namespaced_event(namespace.name).items if e.reason == "MissingClusterDNS"]

    body = wait_answering(url, expect="version: v1")
    assert "shipline example app" in body
    metrics = wait_answering(service_url(kube_admin, namespace.name, "web", "/metrics"), expect="app_ready 1")
    assert 'app_info{version="v1"} 1' in metrics

    # kubectl logs and exec reach the kubelet
    name = pods[0].metadata.name
    assert "listening on :8080" in kubectl(stack, "-n", namespace.name, "logs", name)
    assert kubectl(stack, "-n", namespace.name, "exec", name, "--", "python3", "-c", "print(6 * 7)").strip() == "42"


# -- kubectl-helm-deploy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Web:
    """Deployment and Service `web` from a manifests directory (3 replicas, real-node probes), deployed by
    kubectl-helm-deploy as a pipeline step."""

    stack: dict[str, str]
    api: client.ApiClient
    namespace: str
    run_plugin: Callable[..., tuple[int, str, dict[str, Any]]]
    manifests: str

    def deploy(self, version: str, **settings: str) -> tuple[int, str]:
        code, out, _ = self.run_plugin(
            deploy_main, image=image(self.stack, version), manifests=self.manifests, **settings
        )
        return code, out

    def deploy_v1(self, **settings: str) -> str:
        """Deploys v1 (healthy) and waits until the Service answers with it. Returns the Service's URL."""
        code, out = self.deploy("healthy", **settings)
        assert code == 0, out
        url = service_url(self.api, self.namespace, "web")
        wait_answering(url, expect="version: v1")
        return url

    def v1_then_v2_under_traffic(self, **settings: str) -> str:
        """Deploys v1, then v2 while a client keeps asking the Service: both deploys pass, both versions answer, not
        one request fails. Returns the Service's URL."""
        url = self.deploy_v1(**settings)
        with Traffic(url) as traffic:
            code, out = self.deploy("v2", **settings)
            wait_answering(url, expect="version: v2")
        assert code == 0, out
        assert traffic.failed == 0 and traffic.versions["v1"] and traffic.versions["v2"], traffic.summary()
        return url


@pytest.fixture
def web(
    stack: dict[str, str],
    kube_admin: client.ApiClient,
    namespace: Namespace,
    run_plugin: Callable[..., tuple[int, str, dict[str, Any]]],
    tmp_path: Path,
) -> Web:
    path = tmp_path / "k8s"
    path.mkdir()
    docs = [realnode.deployment("web", "placeholder:set-by-the-plugin", replicas=3), realnode.service("web")]
    (path / "app.yaml").write_text(yaml.safe_dump_all(docs))
    return Web(stack, kube_admin, namespace.name, run_plugin, str(path))


def test_deploy_rolls_without_a_failed_request_and_rolls_a_crash_back(web: Web) -> None:
    settings = {"strategy": "rolling", "timeout": "5m", "max_unavailable": "0"}
    # Rolling v1 -> v2 with maxUnavailable 0 while a client keeps asking the Service: not one request fails.
    url = web.v1_then_v2_under_traffic(max_surge="1", **settings)

    # A build whose container exits at start: the real CrashLoopBackOff fails the deploy, which rolls back to v2.
    code, out = web.deploy("exit-at-start", rollback_on_failure="true", **settings)
    assert code == 1, out
    assert "CrashLoopBackOff" in out and "exiting at start with status 3" in out
    wait_available(web.api, web.namespace, "web")
    images = {p.spec.containers[0].image for p in realnode.live_pods(web.api, web.namespace, "app=web")}
    assert images == {image(web.stack, "v2")}
    wait_answering(url, expect="version: v2")


def test_blue_green_switches_without_a_failed_request(web: Web) -> None:
    web.v1_then_v2_under_traffic(strategy="blue-green", service="web", timeout="5m", scale_down_delay="5s")
    selector = client.CoreV1Api(web.api).read_namespaced_service("web", web.namespace).spec.selector
    assert selector["shipline.io/color"] == "green"


def test_canary_traffic_reaches_the_canary_pods(web: Web) -> None:
    settings = {"service": "web", "timeout": "5m"}
    url = web.deploy_v1(**settings)
    code, out = web.deploy("v2", strategy="canary", canary_weight="34", **settings)
    assert code == 0, out
    # The stable Service selects both tracks: kube-proxy spreads a client's requests over stable and canary pods.
    with Traffic(url) as traffic:
        wait_for(lambda: min(traffic.versions["v1"], traffic.versions["v2"]) >= 3, 120, 0.5, "answers from both")
    assert traffic.failed == 0, traffic.summary()


# -- deployment-verify -------------------------------------------------------------------------------------------


def update_to(stack: dict[str, str], api: client.ApiClient, namespace: str, version: str, replicas: int = 2) -> None:
    """Deployment `web` of healthy pods, once available updated to `version`."""
    create(api, namespace, realnode.deployment("web", image(stack, "healthy"), replicas=replicas))
    wait_available(api, namespace, "web")
    set_image(api, namespace, "web", image(stack, version))


def verify_fails(run_plugin: Callable[..., Any], **settings: str) -> tuple[str, dict[str, Any]]:
    """Runs deployment-verify on `web`, which must fail (exit 1): its last line (the cause) and its report."""
    code, out, report = run_plugin(verify_main, deployments="web", **settings)
    assert code == 1, out
    return out.splitlines()[-1], report


def test_verify_catches_a_real_crash_loop_with_its_termination_message(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    update_to(stack, kube_admin, namespace.name, "exit-at-start")
    last, report = verify_fails(run_plugin, timeout="5m")
    assert "rollout web" in last and "container app" in last
    # What the kubelet reported, not a stage rule: the real exit code and the app's termination message.
    assert "exit code 3: exiting at start with status 3 (EXIT_AT_START)" in last
    assert {c["name"]: c["passed"] for c in report["checks"]} == {"rollout web": False}
    # The old pods kept serving (maxUnavailable 0)
    assert len([p for p in realnode.live_pods(kube_admin, namespace.name, "app=web") if _ready(p)]) >= 2


def test_verify_times_out_on_a_pod_that_never_becomes_ready(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    create(kube_admin, namespace.name, realnode.deployment("web", image(stack, "never-ready"), replicas=1))
    last, _ = verify_fails(run_plugin, timeout="60s")
    assert 'deployment "web" did not finish rolling out within 60s' in last
    assert "pods never Ready: web-" in last

    # It really ran and really failed its readiness probe (the kubelet's Unhealthy events).
    def probe_failed() -> bool:
        events = client.CoreV1Api(kube_admin).list_namespaced_event(namespace.name).items
        return any(e.reason == "Unhealthy" and "Readiness probe failed" in (e.message or "") for e in events)

    wait_for(probe_failed, 120, 1, "an Unhealthy event: Readiness probe failed")


def test_verify_catches_a_crash_after_ready_within_min_ready_seconds(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    # Ready at once, exits after 15 s: minReadySeconds keeps the rollout open long enough to see it.
    dep = realnode.deployment("web", image(stack, "crash-after-ready"), replicas=1, min_ready_seconds=120)
    create(kube_admin, namespace.name, dep)
    last, _ = verify_fails(run_plugin, timeout="5m", max_restarts="0")
    assert "crashing after 15s (CRASH_AFTER)" in last and "exit code 1" in last


def test_verify_fails_fast_on_an_image_missing_from_the_registry(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    update_to(stack, kube_admin, namespace.name, "no-such-tag", replicas=1)
    last, _ = verify_fails(run_plugin, timeout="5m")
    assert "ErrImagePull" in last or "ImagePullBackOff" in last
    assert "no-such-tag" in last


def test_verify_rollback_restores_serving_pods(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    url = realnode.serve(kube_admin, namespace.name, "web", image(stack, "healthy"), replicas=2)
    set_image(kube_admin, namespace.name, "web", image(stack, "exit-at-start"))
    _, report = verify_fails(run_plugin, timeout="5m", rollback_on_failure="true")
    assert {c["name"]: c["passed"] for c in report["checks"]} == {"rollout web": False, "rollback web": True}
    # What the cluster and the Service say: every pod runs v1 again, Ready, and the Service answers with v1.
    wait_available(kube_admin, namespace.name, "web")
    assert {p.spec.containers[0].image for p in realnode.live_pods(kube_admin, namespace.name, "app=web")} == {
        image(stack, "healthy")
    }
    assert "version: v1" in wait_answering(url, expect="version: v1")


# -- chaos-kill --------------------------------------------------------------------------------------------------


def test_chaos_kills_real_containers_and_endpoints_recover(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    url = realnode.serve(kube_admin, namespace.name, "web", image(stack, "healthy"), replicas=3, path="/healthz")
    wait_for(lambda: len(realnode.ready_endpoints(kube_admin, namespace.name, "web")) == 3, 120, 0.5, "3 endpoints")
    before = realnode.ready_endpoints(kube_admin, namespace.name, "web")

    code, out, report = run_plugin(
        chaos_main,
        label_selector="app=web",
        mode="fixed",
        value="2",
        probe_urls=url,
        recovery_timeout="240s",
    )
    assert code == 0, out
    kills = [k for k in report["rounds"][0]["kills"] if k["outcome"] == "killed"]
    assert len(kills) == 2 and all(k["node"] == REAL_NODE for k in kills)
    assert report["rounds"][0]["recovered"] is True
    # Recovery as the Service sees it: three ready endpoints again, none of them a killed pod.
    killed = {k["pod"] for k in kills}
    assert killed <= set(before)

    def recovered() -> dict[str, str]:
        now = realnode.ready_endpoints(kube_admin, namespace.name, "web")
        return now if len(now) == 3 and not killed & set(now) else {}

    after = wait_for(recovered, 120, 0.5, "3 ready endpoints without the killed pods")
    assert len(set(after.values()) - set(before.values())) == 2  # two new pod addresses
    wait_answering(url)


def test_chaos_ignores_pods_whose_replicaset_is_already_gone(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, run_plugin: Callable[..., Any]
) -> None:
    # A removed canary, as a promote leaves it on a real node: its ReplicaSet deleted, its pods still terminating
    # (a 30 s preStop), all matching the chaos selector.
    old = realnode.deployment("old", image(stack, "healthy"), replicas=1, labels={"shop": "web"})
    old["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 60
    old["spec"]["template"]["spec"]["containers"][0]["lifecycle"]["preStop"]["exec"]["command"] = ["sleep", "30"]
    web = realnode.deployment("web", image(stack, "healthy"), replicas=2, labels={"shop": "web"})
    create(kube_admin, namespace.name, old, web)
    wait_available(kube_admin, namespace.name, "old")
    wait_available(kube_admin, namespace.name, "web")
    client.AppsV1Api(kube_admin).delete_namespaced_deployment("old", namespace.name, propagation_policy="Background")

    def orphaned_and_terminating() -> bool:
        rs = client.AppsV1Api(kube_admin).list_namespaced_replica_set(namespace.name, label_selector="app=old")
        pods = client.CoreV1Api(kube_admin).list_namespaced_pod(namespace.name, label_selector="app=old").items
        return not rs.items and bool(pods) and all(p.metadata.deletion_timestamp for p in pods)

    wait_for(orphaned_and_terminating, 60, 0.2, "old's ReplicaSet gone, its pod terminating")
    code, out, report = run_plugin(chaos_main, label_selector="shop=web", mode="one", recovery_timeout="240s")
    assert code == 0, out
    kills = [k for k in report["rounds"][0]["kills"] if k["outcome"] == "killed"]
    assert len(kills) == 1 and kills[0]["workload"] == "deployment/web", kills


def _ready(pod: client.V1Pod) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())
