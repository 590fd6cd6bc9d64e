"""The local stack is real: a registry that authenticates pushes and pulls, a Kubernetes control plane whose
controllers roll Deployments, kwok stages that make pods Ready, crash-loop or stay unready, a least-privilege
deployer token, and helm working with that token. No mocks: every call goes to the running components."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from .stacklib import Namespace, Registry, issue_token, token_api_client, wait_for

CHARTS = Path(__file__).resolve().parent / "charts"


# ------------------------------------------------------------------------------------------------ helpers


def scratch_image_context(payload: bytes) -> io.BytesIO:
    """A build context: `FROM scratch` plus one file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY hello.txt /hello.txt\n"), ("hello.txt", payload)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def push_errors(docker_client: docker.DockerClient, repository: str, tag: str, auth_config=None) -> list[str]:
    """Pushes and returns the error messages of the push stream (empty when it succeeded)."""
    stream = docker_client.api.push(repository, tag=tag, auth_config=auth_config, stream=True, decode=True)
    return [line["error"] for line in stream if "error" in line]


def pod(name: str, image: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image=image)]),
    )


def deployment(name: str, image: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image=image)]),
            ),
        ),
    )


def condition(p: client.V1Pod, kind: str) -> str | None:
    for c in p.status.conditions or []:
        if c.type == kind:
            return c.status
    return None


def token_api(stack: dict[str, str], token: str) -> client.ApiClient:
    return token_api_client(stack["KUBE_SERVER"], stack["KUBE_CA_FILE"], token)


# ------------------------------------------------------------------------------------------------ registry


def test_registry_push_and_pull_need_credentials(docker_client, registry: Registry) -> None:
    payload = f"hello from shipline {uuid.uuid4()}\n".encode()
    repository = f"{registry.host}/shipline-it/hello"
    tag = uuid.uuid4().hex[:12]
    ref = f"{repository}:{tag}"
    image, _ = docker_client.images.build(fileobj=scratch_image_context(payload), custom_context=True, tag=ref, rm=True)
    try:
        # Without credentials: the registry answers 401, push is refused.
        assert requests.get(f"http://{registry.host}/v2/", timeout=5).status_code == 401
        errors = push_errors(docker_client, repository, tag)
        assert errors, "push without credentials succeeded"
        assert any("auth" in e.lower() or "unauthorized" in e.lower() for e in errors), errors

        # With credentials: push works, and the registry lists the tag.
        assert push_errors(docker_client, repository, tag, registry.auth_config) == []
        basic = (registry.username, registry.password)
        assert requests.get(f"http://{registry.host}/v2/", auth=basic, timeout=5).status_code == 200
        tags = requests.get(f"http://{registry.host}/v2/shipline-it/hello/tags/list", auth=basic, timeout=5)
        assert tags.status_code == 200 and tag in tags.json()["tags"]
        anon_tags = requests.get(f"http://{registry.host}/v2/shipline-it/hello/tags/list", timeout=5)
        assert anon_tags.status_code == 401

        # Pull: refused without credentials, works with them and gives back the same image and file.
        docker_client.images.remove(ref, force=True)
        with pytest.raises(docker.errors.APIError):
            docker_client.images.pull(repository, tag=tag)
        pulled = docker_client.images.pull(repository, tag=tag, auth_config=registry.auth_config)
        assert pulled.id == image.id
        container = docker_client.containers.create(ref, command=["/hello.txt"])
        try:
            bits, _ = container.get_archive("/hello.txt")
            with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
                assert tar.extractfile("hello.txt").read() == payload
        finally:
            container.remove(force=True)
    finally:
        try:
            docker_client.images.remove(ref, force=True)
        except docker.errors.ImageNotFound:
            pass


# ------------------------------------------------------------------------------------------------ kubernetes + kwok


def test_deployment_of_three_replicas_gets_three_ready_pods(kube_admin, namespace: Namespace) -> None:
    apps, core = client.AppsV1Api(kube_admin), client.CoreV1Api(kube_admin)
    apps.create_namespaced_deployment(namespace.name, deployment("web", "registry.invalid/shipline/web:1.0.0", 3))

    def ready_pods():
        pods = core.list_namespaced_pod(namespace.name, label_selector="app=web").items
        ready = [p for p in pods if condition(p, "Ready") == "True" and p.status.phase == "Running"]
        return ready if len(ready) == 3 else None

    ready = wait_for(ready_pods, 60, what="3 Ready pods of Deployment web")
    assert len({p.spec.node_name for p in ready}) >= 1
    assert all(p.status.pod_ip for p in ready), "kwok's pod-ready assigns pod IPs"
    status = wait_for(
        lambda: (d := apps.read_namespaced_deployment_status("web", namespace.name).status).ready_replicas == 3 and d,
        30,
        what="Deployment web status readyReplicas=3",
    )
    assert status.available_replicas == 3 and status.updated_replicas == 3


def test_ordinary_pod_becomes_ready_after_the_configured_delay(kube_admin, namespace: Namespace, stack) -> None:
    delay = int(stack.get("SHIPLINE_READY_DELAY_MS", "1000")) / 1000
    core = client.CoreV1Api(kube_admin)
    core.create_namespaced_pod(namespace.name, pod("slowstart", "registry.invalid/shipline/app:1.0.0"))
    scheduled = ready = None
    w = watch.Watch()
    for event in w.stream(
        core.list_namespaced_pod,
        namespace.name,
        field_selector="metadata.name=slowstart",
        timeout_seconds=int(delay) + 30,
    ):
        p = event["object"]
        now = time.monotonic()
        if scheduled is None and p.spec.node_name:
            scheduled = now
        if condition(p, "Ready") == "True":
            ready = now
            w.stop()
    assert scheduled is not None and ready is not None, "pod was not scheduled and made Ready"
    elapsed = ready - scheduled
    # Exact delay in kwok (no jitter); allow for watch latency on both ends.
    assert delay - 0.2 <= elapsed <= delay + 3, f"Ready {elapsed:.2f}s after scheduling, configured {delay:.2f}s"


def test_crash_image_goes_to_crashloopbackoff_with_growing_restarts(kube_admin, namespace: Namespace, stack) -> None:
    interval = int(stack.get("SHIPLINE_CRASH_INTERVAL_MS", "2000")) / 1000
    core = client.CoreV1Api(kube_admin)
    core.create_namespaced_pod(namespace.name, pod("crasher", "registry.invalid/shipline/app:1.0.0-crash"))

    def crashlooping():
        p = core.read_namespaced_pod("crasher", namespace.name)
        statuses = p.status.container_statuses or []
        waiting = statuses and statuses[0].state.waiting
        return p if waiting and waiting.reason == "CrashLoopBackOff" else None

    first = wait_for(crashlooping, interval + 30, what="CrashLoopBackOff")
    first_restarts = first.status.container_statuses[0].restart_count
    later = wait_for(
        lambda: (p := crashlooping()) and p.status.container_statuses[0].restart_count >= first_restarts + 2 and p,
        3 * interval + 15,
        what="restartCount to grow twice",
    )
    cs = later.status.container_statuses[0]
    assert later.status.phase == "Running"
    assert condition(later, "Ready") == "False" and cs.ready is False
    assert cs.last_state.terminated is not None and cs.last_state.terminated.exit_code != 0
    events = core.list_namespaced_event(namespace.name, field_selector="involvedObject.name=crasher").items
    assert any(e.reason == "BackOff" and e.type == "Warning" for e in events), [e.reason for e in events]


def test_unready_image_runs_but_never_becomes_ready(kube_admin, namespace: Namespace, stack) -> None:
    delay = int(stack.get("SHIPLINE_READY_DELAY_MS", "1000")) / 1000
    core = client.CoreV1Api(kube_admin)
    core.create_namespaced_pod(namespace.name, pod("laggard", "registry.invalid/shipline/app:1.0.0-unready"))
    running = wait_for(
        lambda: (p := core.read_namespaced_pod("laggard", namespace.name)).status.phase == "Running" and p,
        delay + 30,
        what="pod Running",
    )
    assert running.status.container_statuses[0].state.running is not None
    # An ordinary pod is Ready `delay` after it runs (the test above): watch every change for twice that, plus 1 s.
    for event in watch.Watch().stream(
        core.list_namespaced_pod,
        namespace.name,
        field_selector="metadata.name=laggard",
        timeout_seconds=int(2 * delay) + 1,
    ):
        p = event["object"]
        assert condition(p, "Ready") == "False", "an `unready` image became Ready"
        assert p.status.container_statuses[0].ready is False


# ------------------------------------------------------------------------------------------------ least privilege


def test_deployer_token_manages_deployments_only_in_its_namespace(kube_admin, namespace: Namespace) -> None:
    with namespace.deployer_api() as api:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        apps.create_namespaced_deployment(namespace.name, deployment("api", "registry.invalid/shipline/api:1", 1))
        apps.patch_namespaced_deployment_scale("api", namespace.name, {"spec": {"replicas": 2}})
        apps.patch_namespaced_deployment(
            "api", namespace.name, {"spec": {"template": {"metadata": {"annotations": {"shipline/rev": "2"}}}}}
        )
        assert apps.read_namespaced_deployment("api", namespace.name).spec.replicas == 2
        core.list_namespaced_pod(namespace.name)
        core.list_namespaced_event(namespace.name)
        apps.delete_namespaced_deployment("api", namespace.name)

        for call in (
            lambda: apps.create_namespaced_deployment("default", deployment("api", "registry.invalid/x:1", 1)),
            lambda: apps.list_namespaced_deployment("default"),
            lambda: core.list_namespaced_secret("kube-system"),
            lambda: core.list_node(),
            lambda: core.list_namespace(),
            # Pods may be created in its own namespace only (helm test hooks are pods), never elsewhere.
            lambda: core.create_namespaced_pod("default", pod("bare", "registry.invalid/x:1")),
        ):
            with pytest.raises(ApiException) as denied:
                call()
            assert denied.value.status == 403


def test_stack_env_token_is_the_least_privilege_deployer(stack) -> None:
    with token_api(stack, stack["KUBE_TOKEN"]) as api:
        apps = client.AppsV1Api(api)
        apps.list_namespaced_deployment(stack["KUBE_NAMESPACE"])
        with pytest.raises(ApiException) as denied:
            apps.list_namespaced_deployment("default")
        assert denied.value.status == 403
        review = client.AuthenticationV1Api(api).create_self_subject_review(client.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{stack['KUBE_NAMESPACE']}:deployer"


def test_token_request_issues_working_tokens(kube_admin, namespace: Namespace, stack) -> None:
    token = issue_token(kube_admin, namespace.name, seconds=600)
    with token_api(stack, token) as api:
        client.CoreV1Api(api).list_namespaced_pod(namespace.name)


# ------------------------------------------------------------------------------------------------ helm


def test_helm_installs_and_uninstalls_a_chart_with_the_deployer_token(
    kube_admin, namespace: Namespace, stack, tmp_path: Path
) -> None:
    kubeconfig = namespace.write_kubeconfig(tmp_path / "deployer.kubeconfig")
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
        "KUBECONFIG": str(kubeconfig),
    }

    def helm(*args: str) -> str:
        argv = [stack["HELM_BIN"], *args, "--namespace", namespace.name]
        assert all(namespace.token not in a for a in argv)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    helm("install", "demo", str(CHARTS / "hello"), "--wait", "--timeout", "90s", "--set", "replicaCount=2")
    apps, core = client.AppsV1Api(kube_admin), client.CoreV1Api(kube_admin)
    assert apps.read_namespaced_deployment("demo-hello", namespace.name).status.ready_replicas == 2
    assert (
        core.read_namespaced_service("demo-hello", namespace.name).spec.selector["app.kubernetes.io/instance"] == "demo"
    )
    releases = json.loads(helm("list", "--output", "json"))
    assert [(r["name"], r["status"]) for r in releases] == [("demo", "deployed")]
    # helm keeps the release in a Secret of the namespace
    assert core.list_namespaced_secret(namespace.name, label_selector="owner=helm,name=demo").items

    helm("uninstall", "demo", "--wait", "--timeout", "60s")
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("demo-hello", namespace.name)
    assert gone.value.status == 404
    assert json.loads(helm("list", "--output", "json")) == []
    assert not core.list_namespaced_secret(namespace.name, label_selector="owner=helm,name=demo").items


def test_buildkitd_takes_only_clients_with_a_stack_ca_certificate(stack) -> None:
    """stack/buildkit.sh: buildkitd on tcp with mutual TLS; without the client certificate it refuses."""
    base = [stack["BUILDCTL_BIN"], "--addr", stack["BUILDKIT_ADDR"], "--tlscacert", stack["BUILDKIT_CA_FILE"]]
    client_cert = ["--tlscert", stack["BUILDKIT_CERT_FILE"], "--tlskey", stack["BUILDKIT_KEY_FILE"]]
    workers = subprocess.run([*base, *client_cert, "debug", "workers"], capture_output=True, text=True, timeout=30)
    assert workers.returncode == 0 and "linux/amd64" in workers.stdout, workers.stderr
    refused = subprocess.run([*base, "debug", "workers"], capture_output=True, text=True, timeout=30)
    # gRPC reports the refusal as the TLS alert or as the connection it closed (reset, broken pipe)
    assert refused.returncode != 0 and "failed to list workers" in refused.stderr, refused.stderr


def test_tls_registry_is_served_with_a_stack_ca_certificate(stack) -> None:
    url = f"https://{stack['REGISTRY_TLS']}/v2/"
    auth = (stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"])
    assert requests.get(url, auth=auth, verify=stack["REGISTRY_CA_FILE"], timeout=10).status_code == 200
    assert requests.get(url, verify=stack["REGISTRY_CA_FILE"], timeout=10).status_code == 401
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        requests.get(url, timeout=10)  # the system's CAs do not know the stack CA
