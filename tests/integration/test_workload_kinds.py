"""StatefulSets and DaemonSets: shipline's per-kind rollout rules against kubectl's own on the same objects, and
the plugins rolling, verifying, rolling back and chaos-testing them.

Behaviour (readiness, crashes, recovery) runs on the real node; the one test that needs a DaemonSet on several
nodes runs on the two kwok nodes (their pods are simulated: only completion counting is tested there).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from plugins.chaos_kill.__main__ import main as chaos_main
from plugins.deployment_verify.__main__ import main as verify_main
from shared import rollout
from tests.harness import Harness, Main, Run, plugin_env

from .conftest import Deploy
from .realnode import (
    create,
    daemonset,
    deployment,
    image,
    live_pods,
    service,
    service_url,
    statefulset,
    wait_answering,
)
from .stacklib import Namespace, wait_for

API = {"StatefulSet": "stateful_set", "DaemonSet": "daemon_set", "Deployment": "deployment"}


def read(api: client.ApiClient, namespace: str, kind: str, name: str) -> dict[str, Any]:
    fn = getattr(client.AppsV1Api(api), f"read_namespaced_{API[kind]}")
    found: dict[str, Any] = json.loads(fn(name, namespace, _preload_content=False).data)
    return found


def patch(api: client.ApiClient, namespace: str, kind: str, name: str, body: Any) -> None:
    getattr(client.AppsV1Api(api), f"patch_namespaced_{API[kind]}")(name, namespace, body)


def settle(api: client.ApiClient, namespace: str, kind: str, name: str, message: str, timeout: float = 120) -> None:
    """Until shipline's viewer gives a message starting with `message` (polled: the comparison with kubectl needs
    a state that holds still)."""

    seen = [""]

    def shows() -> bool:
        obj = read(api, namespace, kind, name)
        seen[0] = f"{rollout.status_of(kind, obj).message} ({json.dumps(obj.get('status'))})"
        return rollout.status_of(kind, obj).message.startswith(message)

    try:
        wait_for(shows, timeout, 0.5, f"{kind} {name}: {message}")
    except AssertionError as e:
        raise AssertionError(f"{e}; last seen: {seen[0]}") from None


def kubectl_says(stack: dict[str, str], api: client.ApiClient, namespace: str, kind: str, name: str) -> tuple[str, str]:
    """(shipline's message, kubectl's) on the same resourceVersion of the object: read, ask kubectl, read again,
    and try again if the object changed in between."""
    for _ in range(10):
        before = read(api, namespace, kind, name)
        ours = rollout.status_of(kind, before).message
        done = subprocess.run(
            [stack["KUBECTL"], "--kubeconfig", stack["KUBECONFIG"], "-n", namespace, "rollout", "status"]
            + ["--watch=false", f"{kind.lower()}/{name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        theirs = (done.stdout or done.stderr).strip().removeprefix("error: ")
        if read(api, namespace, kind, name)["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]:
            return ours, theirs
    raise AssertionError(f"{kind} {name} kept changing while compared with kubectl")


@pytest.mark.real_node
def test_statefulset_and_daemonset_messages_are_kubectls(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, verify: Callable[..., Run]
) -> None:
    ns = namespace.name
    create(
        kube_admin,
        ns,
        statefulset("db", image(stack, "healthy"), 2),
        statefulset("od", image(stack, "healthy"), 1, strategy="OnDelete"),
        daemonset("agent", image(stack, "never-ready")),
    )
    cases = [
        # No partition set: the API server leaves rollingUpdate unset, and kubectl compares revisions.
        ("StatefulSet", "db", "statefulset rolling update complete 2 pods at revision db-"),
        ("StatefulSet", "od", rollout.NOT_ROLLING),
        (
            "DaemonSet",
            "agent",
            'Waiting for daemon set "agent" rollout to finish: 0 of 1 updated pods are available...',
        ),
    ]
    for kind, name, message in cases:
        settle(kube_admin, ns, kind, name, message)
        ours, theirs = kubectl_says(stack, kube_admin, ns, kind, name)
        assert ours == theirs and ours.startswith(message)
    # OnDelete: verify reports it and does not wait (kubectl exits at once too).
    on_delete = verify(workloads="statefulset/od")
    assert on_delete.code == 0, on_delete.out
    assert "update strategy OnDelete, not waited for (as kubectl)" in on_delete.out

    def rolls_as_kubectl_says(spec: dict[str, Any], message: str) -> None:
        """Patch StatefulSet db's spec, wait for `message`, and compare it with kubectl's on the same object."""
        patch(kube_admin, ns, "StatefulSet", "db", {"spec": spec})
        settle(kube_admin, ns, "StatefulSet", "db", message)
        ours, theirs = kubectl_says(stack, kube_admin, ns, "StatefulSet", "db")
        assert ours == theirs and ours.startswith(message)

    def rolling(partition: int) -> dict[str, Any]:
        return {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}

    # A partition: only ordinal 1 takes v2, and the rollout is complete once it has.
    v2 = {"spec": {"containers": [{"name": "app", "image": image(stack, "v2")}]}}
    rolls_as_kubectl_says(
        {"updateStrategy": rolling(1), "template": v2}, "partitioned roll out complete: 1 new pods have been updated"
    )
    assert images_of(kube_admin, ns, "app=db") == {"db-0": image(stack, "healthy"), "db-1": image(stack, "v2")}
    # Every ordinal again (partition 0), a new template, minReadySeconds 30: the controller replaces db-1, then
    # waits for it to be available before db-0, while every pod is Ready: kubectl counts the updated pods.
    rolls_as_kubectl_says(
        {
            "minReadySeconds": 30,
            "updateStrategy": rolling(0),
            "template": {"metadata": {"annotations": {"shipline.io/try": "2"}}},
        },
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods",
    )
    # A pod that never becomes Ready: kubectl counts what is missing.
    never_ready = {"spec": {"containers": [{"name": "app", "image": image(stack, "never-ready")}]}}
    rolls_as_kubectl_says({"template": never_ready}, "Waiting for 1 pods to be ready...")


# -- the plugins on StatefulSets and DaemonSets -------------------------------------------------------------------


def runner(main: Main, deployer: Harness, report: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """A plugin run beside the `deploy` fixture's on the same harness: its settings (and its report file) are
    removed from the environment afterwards, so the next deploy does not inherit them."""

    def run(**settings: object) -> Run:
        result = deployer.run(main, report, report_file=report, **settings)
        for key in plugin_env({**settings, "report_file": report}):
            monkeypatch.delenv(key, raising=False)
        deployer.setenv()  # the base settings (the deploy fixture's report_file) again
        return result

    return run


@pytest.fixture
def verify(deployer: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """deployment-verify with `settings` and the namespace's deployer credentials."""
    return runner(verify_main, deployer, tmp_path / "verify.json", monkeypatch)


def manifest(path: Path, *objects: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(objects))
    return path.name


def images_of(api: client.ApiClient, namespace: str, selector: str) -> dict[str, str]:
    return {p.metadata.name: p.spec.containers[0].image for p in live_pods(api, namespace, selector)}


def all_ready(api: client.ApiClient, namespace: str, selector: str, count: int) -> bool:
    pods = live_pods(api, namespace, selector)
    return len(pods) == count and all(
        any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or ()) for p in pods
    )


@pytest.mark.real_node
def test_statefulset_partition_crash_fails_fast_and_undo_restores(
    stack: dict[str, str],
    kube_admin: client.ApiClient,
    namespace: Namespace,
    deploy: Deploy,
    verify: Callable[..., Run],
    tmp_path: Path,
) -> None:
    ns, healthy, v2 = namespace.name, image(stack, "healthy"), image(stack, "v2")
    files = manifest(tmp_path / "db.yaml", statefulset("db", healthy, 2, partition=1))
    first = deploy(manifests=files)
    assert first.code == 0, first.out
    assert first.report["revisions"]["statefulset/db"]

    # partition 1: only ordinal 1 takes v2, and the wait says so and stops there.
    rolled = deploy(manifests=files, image=v2)
    assert rolled.code == 0, rolled.out
    assert 'statefulset "db": partition 1, so only ordinals 1 and above are updated' in rolled.out
    assert "partitioned roll out complete: 1 new pods have been updated..." in rolled.out
    assert images_of(kube_admin, ns, "app=db") == {"db-0": healthy, "db-1": v2}
    # verify agrees, and checks the image of the new revision's pods only (db-0 keeps the old one by design).
    checked = verify(workloads="statefulset/db", expected_image=v2)
    assert checked.code == 0, checked.out
    assert "partition 1, so only ordinals 1 and above are updated" in checked.out
    image_check = next(c for c in checked.report["checks"] if c["name"] == "image statefulset/db")
    assert image_check["measured"] == "1 of 1 pods run it"
    selected = verify(label_selector="app=db")  # a label selector finds StatefulSets too
    assert selected.code == 0, selected.out
    assert "label selector app=db matches: statefulset/db" in selected.out

    # Without the partition, a crashing image: fails in seconds (not at the timeout), then undo to v2 everywhere.
    files = manifest(tmp_path / "db.yaml", statefulset("db", healthy, 2, partition=0))
    crashed = deploy(manifests=files, image=image(stack, "exit-at-start"), timeout="120s")
    assert crashed.code == 1, crashed.out
    assert "CrashLoopBackOff" in crashed.out or "exit code 3" in crashed.out, crashed.out
    assert "rolled back: statefulset db serves revision" in crashed.last, crashed.last
    assert "did not finish rolling out within" not in crashed.out, crashed.out  # the crash, not the timeout
    wait_for(lambda: all_ready(kube_admin, ns, "app=db", 2), 90, 1, "both db pods Ready again")
    assert images_of(kube_admin, ns, "app=db") == {"db-0": v2, "db-1": v2}
    create(kube_admin, ns, service("db"))
    assert "v2" in wait_answering(service_url(kube_admin, ns, "db", "/version"), 60)


def test_daemonset_complete_only_when_every_node_runs_the_new_revision(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, deploy: Deploy, tmp_path: Path
) -> None:
    """On the two kwok nodes (simulated pods): completion counting across nodes only; crashes are on the real node."""
    nodes = client.CoreV1Api(kube_admin).list_node(label_selector="type=kwok").items
    assert len(nodes) >= 2, "the stack has fewer than 2 kwok nodes"
    files = manifest(tmp_path / "agent.yaml", daemonset("agent", image(stack, "healthy"), kwok=True))
    first = deploy(manifests=files)
    assert first.code == 0, first.out
    rolled = deploy(manifests=files, image=image(stack, "v2"))
    assert rolled.code == 0, rolled.out
    assert 'daemon set "agent" successfully rolled out' in rolled.out
    ds = read(kube_admin, namespace.name, "DaemonSet", "agent")["status"]
    assert ds["desiredNumberScheduled"] == ds["updatedNumberScheduled"] == ds["numberAvailable"] == len(nodes)
    ours, theirs = kubectl_says(stack, kube_admin, namespace.name, "DaemonSet", "agent")
    assert ours == theirs == 'daemon set "agent" successfully rolled out'
    assert set(images_of(kube_admin, namespace.name, "app=agent").values()) == {image(stack, "v2")}


@pytest.mark.real_node
def test_daemonset_crash_fails_fast_and_undo_works(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, deploy: Deploy, tmp_path: Path
) -> None:
    files = manifest(tmp_path / "agent.yaml", daemonset("agent", image(stack, "healthy")))
    assert deploy(manifests=files).code == 0
    crashed = deploy(manifests=files, image=image(stack, "exit-at-start"), timeout="120s")
    assert crashed.code == 1, crashed.out
    assert "exit code 3" in crashed.out, crashed.out
    assert "rolled back: daemonset agent serves revision" in crashed.last, crashed.last
    assert "did not finish rolling out within" not in crashed.out, crashed.out  # the crash, not the timeout
    wait_for(lambda: all_ready(kube_admin, namespace.name, "app=agent", 1), 60, 1, "the agent pod Ready again")
    assert set(images_of(kube_admin, namespace.name, "app=agent").values()) == {image(stack, "healthy")}


@pytest.mark.real_node
def test_min_stable_fails_a_pod_that_crashes_after_ready_and_passes_a_healthy_one(
    stack: dict[str, str],
    kube_admin: client.ApiClient,
    namespace: Namespace,
    deploy: Deploy,
    verify: Callable[..., Run],
    tmp_path: Path,
) -> None:
    files = manifest(tmp_path / "web.yaml", deployment("web", image(stack, "healthy"), 1))
    healthy = deploy(manifests=files, min_stable="3s")
    assert healthy.code == 0, healthy.out
    assert "every new pod stayed Ready with no new restart for 3s" in healthy.out
    # crash-after-ready: Ready, then exits 1 after CRASH_AFTER s; kubectl's rules alone call that rollout complete.
    files = manifest(tmp_path / "web.yaml", crashes_after_ready(deployment("web", image(stack, "healthy"), 1)))
    crashed = deploy(manifests=files, image=image(stack, "crash-after-ready"), min_stable="40s", timeout="120s")
    assert crashed.code == 1, crashed.out
    assert "was not stable after its rollout: pod web-" in crashed.out, crashed.out
    assert f"exit code 1: crashing after {CRASH_AFTER}s (CRASH_AFTER)" in crashed.out, crashed.out
    assert "rolled back: deployment web serves revision" in crashed.last, crashed.last
    checked = verify(workloads="web", min_stable="2s", expected_image=image(stack, "healthy"))
    assert checked.code == 0, checked.out
    # verify's min_stable on a StatefulSet whose pod is Ready (kubectl: rolled out) and crashes CRASH_AFTER s after
    # start.
    create(kube_admin, namespace.name, crashes_after_ready(statefulset("db", image(stack, "crash-after-ready"), 1)))
    settle(kube_admin, namespace.name, "StatefulSet", "db", "statefulset rolling update complete 1 pods")
    unstable = verify(workloads="statefulset/db", min_stable="30s")
    assert unstable.code == 1, unstable.out
    assert 'statefulset "db" was not stable after its rollout: pod db-0 was Ready, then' in unstable.last, unstable.last
    assert f"crashing after {CRASH_AFTER}s (CRASH_AFTER)" in unstable.last, unstable.last


# The crash-after-ready image's own delay is 15 s; the app reads CRASH_AFTER from its environment, so a container
# env var sets a shorter one. 8 s still leaves the pod several seconds Ready (startup and readiness probes every
# second) before it dies, so the rollout completes first and only min_stable can catch the crash.
CRASH_AFTER = 8


def crashes_after_ready(workload: dict[str, Any]) -> dict[str, Any]:
    """`workload` with its container's crash delay set to CRASH_AFTER seconds."""
    workload["spec"]["template"]["spec"]["containers"][0]["env"].append(
        {"name": "CRASH_AFTER", "value": str(CRASH_AFTER)}
    )
    return workload


@pytest.fixture
def chaos(deployer: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    return runner(chaos_main, deployer, tmp_path / "chaos.json", monkeypatch)


@pytest.mark.real_node
def test_chaos_on_a_statefulset_and_a_daemonset(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, chaos: Callable[..., Run]
) -> None:
    ns = namespace.name
    create(kube_admin, ns, statefulset("db", image(stack, "healthy"), 2), daemonset("agent", image(stack, "healthy")))
    settle(kube_admin, ns, "StatefulSet", "db", "statefulset rolling update complete 2 pods")
    settle(kube_admin, ns, "DaemonSet", "agent", 'daemon set "agent" successfully rolled out')

    # min_available 1 of 2: one pod goes, and recovery is the same ordinal back under its own name.
    run = chaos(label_selector="app=db", mode="all", min_available="1", recovery_timeout="90s", random_seed="s")
    assert run.code == 0, run.out
    rnd = run.report["rounds"][0]
    killed = [k["pod"] for k in rnd["kills"] if k["outcome"] == "killed"]
    assert len(killed) == 1 and rnd["recovered"] is True, rnd
    assert any("min_available 1" in e["reason"] for e in rnd["excluded"]), rnd
    back = {p.metadata.name: p.metadata.uid for p in live_pods(kube_admin, ns, "app=db")}
    assert set(back) == {"db-0", "db-1"}
    assert next(k["uid"] for k in rnd["kills"] if k["pod"] == killed[0]) != back[killed[0]]  # a new pod, same name

    # The DaemonSet's only pod (one real node): min_available keeps it; allowing the outage, it comes back.
    kept = chaos(label_selector="app=agent", mode="one", recovery_timeout="90s")
    assert kept.code == 0, kept.out
    assert not [k for k in kept.report["rounds"][0]["kills"] if k["outcome"] == "killed"], kept.out
    run = chaos(label_selector="app=agent", mode="one", allow_total_outage="true", recovery_timeout="90s")
    assert run.code == 0, run.out
    assert run.report["rounds"][0]["recovered"] is True
    assert run.report["rounds"][0]["recovery_seconds"] > 0


TESTED_CHART = str(Path(__file__).resolve().parent / "charts" / "tested")


@pytest.mark.real_node
def test_helm_test_passes_then_a_failing_test_is_rolled_back(
    stack: dict[str, str], kube_admin: client.ApiClient, namespace: Namespace, deploy: Deploy
) -> None:
    helm = {"chart": TESTED_CHART, "release": "t", "image_value": "image", "helm_bin": stack["HELM_BIN"]}
    passed = deploy(image=image(stack, "healthy"), helm_test="true", **helm)
    assert passed.code == 0, passed.out
    assert "version: v1, expected: v1" in passed.out  # the test pod's log
    assert "helm test t passed" in passed.out
    # v2 answers version v2; the chart's test still expects v1: a failed rollout, rolled back to revision 1.
    failed = deploy(image=image(stack, "v2"), helm_test="true", **helm)
    assert failed.code == 1, failed.out
    assert "version: v2, expected: v1" in failed.out
    assert "helm test failed" in failed.last and "rolled back to revision 1" in failed.last, failed.last
    images = {c.image for p in live_pods(kube_admin, namespace.name, "app=t") for c in p.spec.containers}
    assert images == {image(stack, "healthy")}
