"""`make demo` on the real stack: the seed's pipeline through the four plugin images, run once for this module,
then each outcome asserted (what `python -m demo` prints as its summary)."""

from __future__ import annotations

import io
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from shared.log import Log

from .stacklib import token_api_client

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the demo package lives at the repository root, beside shared/ and plugins/

from demo.cluster import Cluster  # noqa: E402
from demo.environment import read_stack  # noqa: E402
from demo.plugins import PLUGINS, ImageRunner, image_of  # noqa: E402
from demo.scenario import Demo, summary  # noqa: E402


@pytest.fixture(scope="module")
def demo(stack: dict[str, str], images: dict[str, str]) -> Iterator[Demo]:
    """The demo, once, on the session's plugin images (the `images` fixture: scripts/images.sh, as `make demo`)."""
    out = io.StringIO()
    run = Demo(
        read_stack(), ImageRunner(stack["DOCKER_HOST"]), Log(stream=out), namespace=f"it-demo-{uuid.uuid4().hex[:6]}"
    )
    run.run()
    summary(run, run.log)
    yield run
    cluster = Cluster(stack["KUBECONFIG"])
    try:
        cluster.delete_namespace(run.namespace)
    finally:
        cluster.close()


def table(run: Demo) -> str:
    """The steps, and the end of the demo's log: the failure message says what happened."""
    steps = "\n".join(f"{s.name}: {'ok' if s.ok else 'FAILED'}: {s.actual}" for s in run.steps)
    stream = run.log.stream
    return steps + ("\n--- demo log (end) ---\n" + stream.getvalue()[-6000:] if isinstance(stream, io.StringIO) else "")


def test_every_step_behaved_as_expected(demo: Demo) -> None:
    assert demo.passed, table(demo)
    assert len(demo.steps) == 14


def test_plugins_ran_as_their_images(demo: Demo) -> None:
    assert demo.runner.kind == "image"
    ran = {plugin for plugin, _ in demo.outcomes}
    assert ran == set(PLUGINS)
    assert all(image_of(p).startswith("shipline/") for p in ran)


def test_each_build_has_unique_tags_and_its_own_digest(demo: Demo) -> None:
    builds = demo.facts.builds
    assert list(builds) == ["v1", "v2", "crash"], table(demo)
    tags = [t for b in builds.values() for t in b.tags]
    assert len(tags) == len(set(tags)), tags
    assert "latest" not in tags
    assert len({b.digest for b in builds.values()}) == 3
    assert len({b.commit for b in builds.values()}) == 3, "each build is its own commit"
    for number, build in enumerate(builds.values(), start=1):
        assert f"{build.commit[:12]}-{number}" in build.tags[0]
        assert build.image.endswith("@" + build.digest)
    assert all("crash" in t for t in builds["crash"].tags)


def test_rolling_upgrade_then_rollback_to_v2(demo: Demo, kube_admin: client.ApiClient) -> None:
    revisions = demo.facts.revisions
    assert revisions["v1"] == "1" and revisions["v2"] == "2", revisions
    # Undo makes the v2 ReplicaSet the newest revision again (kubectl's rollout undo).
    assert int(revisions["rollback"]) > 2, revisions
    deployment = client.AppsV1Api(kube_admin).read_namespaced_deployment("example-app", demo.namespace)
    assert [c.image for c in deployment.spec.template.spec.containers] == [demo.facts.builds["v2"].image]
    assert deployment.status.available_replicas == 3


def test_crash_deploy_failed_for_the_right_reason(demo: Demo) -> None:
    deploys = [o for p, o in demo.outcomes if p == "kubectl-helm-deploy"]
    assert [o.code for o in deploys] == [0, 0, 1]
    assert "CrashLoopBackOff" in deploys[-1].output


def test_chaos_recovery_was_measured(demo: Demo) -> None:
    assert demo.facts.recovery_seconds is not None and demo.facts.recovery_seconds > 0


def test_http_checks_reached_the_pods_through_their_service(demo: Demo, kube_admin: client.ApiClient) -> None:
    assert [c.rsplit(" ", 1)[-1] for c in demo.facts.http_checked] == ["v1", "v2"]
    service = client.CoreV1Api(kube_admin).read_namespaced_service("example-app", demo.namespace)
    assert all(c.startswith(f"http://{service.spec.cluster_ip}:80/ ") for c in demo.facts.http_checked)
    pods = client.CoreV1Api(kube_admin).list_namespaced_pod(demo.namespace).items
    assert pods and {p.spec.node_name for p in pods} == {"shipline-real"}  # real pods, not kwok's


def test_rolling_upgrade_lost_no_request(demo: Demo) -> None:
    traffic = demo.facts.rolling_traffic
    assert " 0 failed" in traffic and "v1: " in traffic and "v2: " in traffic, traffic


def test_secrets_never_in_plugin_output(demo: Demo) -> None:
    secrets = [demo.stack.registry_password, *demo.tokens.values()]
    assert all(secrets)
    for plugin, outcome in demo.outcomes:
        for secret in secrets:
            assert secret not in outcome.output, f"{plugin} printed a secret"


# Each plugin's token (examples/rbac/) may do what the demo needed of it, and not what the others need.
ACCESS = [
    pytest.param("deploy", "patch", "apps", "deployments", True, id="deployer-patches-deployments"),
    pytest.param("deploy", "create", "", "secrets", True, id="deployer-writes-helm-secrets"),
    pytest.param("deploy", "delete", "", "pods", False, id="deployer-kills-no-pods"),
    pytest.param("verify", "patch", "apps", "deployments", True, id="verify-may-roll-back"),
    pytest.param("verify", "create", "apps", "deployments", False, id="verify-creates-nothing"),
    pytest.param("verify", "delete", "", "pods", False, id="verify-kills-no-pods"),
    pytest.param("chaos", "delete", "", "pods", True, id="chaos-deletes-pods"),
    pytest.param("chaos", "create", "", "pods/eviction", True, id="chaos-evicts-pods"),
    pytest.param("chaos", "patch", "apps", "deployments", False, id="chaos-changes-no-workload"),
    pytest.param("chaos", "get", "", "secrets", False, id="chaos-reads-no-secrets"),
]


@pytest.mark.parametrize(("plugin", "verb", "group", "resource", "allowed"), ACCESS)
def test_plugin_tokens_are_least_privilege(
    demo: Demo, stack: dict[str, str], plugin: str, verb: str, group: str, resource: str, allowed: bool
) -> None:
    resource, _, subresource = resource.partition("/")
    attributes = client.V1ResourceAttributes(
        namespace=demo.namespace, verb=verb, group=group, resource=resource, subresource=subresource or None
    )
    with token_api_client(stack["KUBE_SERVER"], stack["KUBE_CA_FILE"], demo.tokens[plugin]) as api:
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
        )
    assert review.status.allowed is allowed
    # Nothing outside the namespace, whatever the verb.
    elsewhere = client.V1ResourceAttributes(namespace="default", verb="get", group=group, resource=resource)
    with token_api_client(stack["KUBE_SERVER"], stack["KUBE_CA_FILE"], demo.tokens[plugin]) as api:
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=elsewhere))
        )
    assert review.status.allowed is False


def test_example_chart_passes_helm_lint(stack: dict[str, str]) -> None:
    done = subprocess.run(
        [stack["HELM_BIN"], "lint", "--strict", str(ROOT / "examples" / "chart")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
