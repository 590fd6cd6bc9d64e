"""Canary analysis against the stack's real Prometheus (stack/prometheus.sh): it scrapes the example app's pods on
the real node, and kubectl-helm-deploy's canary steps are promoted or aborted by what it measures. Traffic comes
from a client asking the stable Service (kube-proxy spreads it over stable and canary pods).

Lean on purpose: 2 stable replicas, one analysis per step over 12 s (the scrape interval is 2 s; discovery of a
new pod takes up to 5 s), and the Prometheus-only cases (no data, Prometheus stopped, bad queries) on kwok pods.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client

from demo.traffic import Traffic
from plugins.deployment_verify.__main__ import main as verify_main
from plugins.kubectl_helm_deploy.canary_objects import STATE_ANNOTATION
from tests.harness import Harness

from . import realnode
from .conftest import Deploy
from .deploy_support import IMAGE, deployment, images
from .stacklib import Namespace, cluster_state, wait_for

BUILTINS = json.dumps(["request_success_rate", {"name": "request_duration_p99", "max": 250}])
# 12 s: a new pod is discovered within 5 s, then scraped every 2 s; rate() needs two samples of its traffic
STEPS_10_50_100 = json.dumps([{"weight": 10, "pause": "12s"}, {"weight": 50, "pause": "12s"}, 100])


def write_manifests(directory: Path, image_ref: str, *, real: bool, extra: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    """Deployment web (2 replicas) and Service web; on the real node with probes and Prometheus' annotations."""
    if real:
        dep = realnode.deployment("web", image_ref, replicas=2)
        dep["spec"]["template"]["metadata"]["annotations"] = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "8080",
        }
        # the behaviour tags are rebuilt when examples/app changes: the node must not serve a cached older build
        dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Always"
    else:
        dep = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": image_ref}]},
                },
            },
        }
    directory.mkdir(exist_ok=True)
    (directory / "app.yaml").write_text(yaml.safe_dump_all([dep, realnode.service("web"), *extra]))
    return str(directory)


def objects_in(admin: client.ApiClient, ns: str) -> dict[str, Any]:
    """The resourceVersion of every object in `ns` (other tests' namespaces come and go meanwhile)."""
    return {k: v for k, v in cluster_state(admin, ns).items() if k != "namespaces"}


def canary_state(admin: client.ApiClient, ns: str) -> dict[str, Any]:
    canary = deployment(admin, ns, "web-canary")
    assert canary is not None
    return json.loads(canary.metadata.annotations[STATE_ANNOTATION])


@pytest.fixture
def prometheus(stack: dict[str, str]) -> str:
    url = stack.get("PROMETHEUS_URL", "")
    assert url, "the stack has no PROMETHEUS_URL: run `make up` (stack/prometheus.sh)"
    return url


def has_traffic(prometheus: str, namespace: str) -> bool:
    query = f'sum(rate(http_requests_total{{namespace="{namespace}"}}[8s])) > 0'
    answer = requests.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5).json()
    return bool(answer["data"]["result"])


def serve_stable(
    stack: dict[str, str], deploy: Deploy, admin: client.ApiClient, namespace: Namespace, tmp_path: Path
) -> tuple[str, str]:
    """v1 (healthy) deployed by the plugin and answering on its Service: (manifests, the Service's URL)."""
    manifests = write_manifests(tmp_path / "k8s", realnode.image(stack, "healthy"), real=True)
    assert deploy(manifests=manifests).code == 0
    url = realnode.service_url(admin, namespace.name, "web")
    realnode.wait_answering(url, expect="version: v1")
    # fail at once, not after the traffic wait, when the registry serves an app build without the analysis metrics
    metrics = requests.get(realnode.service_url(admin, namespace.name, "web", "/metrics"), timeout=5).text
    assert "http_requests_total" in metrics, "example-app:healthy has no http_requests_total: stale image, `make up`"
    return manifests, url


def start_canary(deploy: Deploy, manifests: str, image_ref: str, analysis: str, prometheus: str, **extra: Any) -> Any:
    """10% -> 50% -> 100%, one analysis of 12 s per step (1 canary pod beside 2 stable is 33%: rounding allowed)."""
    return deploy(
        manifests=manifests,
        image=image_ref,
        strategy="canary",
        service="web",
        canary_steps=STEPS_10_50_100,
        allow_replica_rounding="true",
        analysis=analysis,
        analysis_interval="12s",
        prometheus_url=prometheus,
        **extra,
    )


# -- real node, real traffic -------------------------------------------------------------------------------------


@pytest.mark.real_node
def test_healthy_canary_walks_10_50_100_and_is_promoted(
    stack: dict[str, str],
    prometheus: str,
    deploy: Deploy,
    deployer: Harness,
    monkeypatch: pytest.MonkeyPatch,
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
) -> None:
    manifests, url = serve_stable(stack, deploy, kube_admin, namespace, tmp_path)
    junit = tmp_path / "analysis.xml"
    with Traffic(url) as traffic:
        # deployment-verify's one-off analysis of the stable version, once Prometheus has its traffic
        wait_for(lambda: has_traffic(prometheus, namespace.name), 60, 0.5, "the stable pods' traffic in Prometheus")
        report = tmp_path / "verify.json"
        verified = deployer.run(
            verify_main,
            report,
            deployments="web",
            analysis='["request_success_rate"]',
            analysis_interval="8s",
            prometheus_url=prometheus,
            report_file=report,
        )
        assert verified.code == 0, verified.out
        check = next(c for c in verified.report["checks"] if c["name"] == "analysis request_success_rate")
        assert (check["passed"], check["measured"], check["threshold"]) == (True, "100", "min 99%")
        monkeypatch.delenv("PLUGIN_DEPLOYMENTS")  # the harness keeps a run's settings for the next run
        run = start_canary(deploy, manifests, realnode.image(stack, "v2"), BUILTINS, prometheus, junit_file=junit)
    assert run.code == 0, run.out
    assert "canary at asked 10%, replicas give 33%" in run.out  # 1 canary pod beside 2 stable
    assert images(kube_admin, namespace.name, "web")["app"] == realnode.image(stack, "v2")
    assert deployment(kube_admin, namespace.name, "web-canary") is None
    analysed = run.report["analysis"]
    assert [(m["check"], m["verdict"]) for m in analysed] == [
        ("request_success_rate", "pass"),
        ("request_duration_p99", "pass"),
    ] * 2, analysed
    assert all(m["value"] is not None for m in analysed)
    assert 'pod=~"web-canary-[0-9a-z]+-[0-9a-z]+"' in analysed[0]["query"]
    assert junit.read_text().count("<testcase") == 4
    assert traffic.failed == 0 and traffic.versions["v2"], traffic.summary()


def _aborted_canary(
    stack: dict[str, str],
    prometheus: str,
    deploy: Deploy,
    namespace: Namespace,
    admin: client.ApiClient,
    tmp_path: Path,
    behaviour: str,
    analysis: str,
) -> tuple[str, Traffic]:
    manifests, url = serve_stable(stack, deploy, admin, namespace, tmp_path)
    with Traffic(url) as traffic:
        run = start_canary(deploy, manifests, realnode.image(stack, behaviour), analysis, prometheus)
        # stable keeps serving after the abort too
        realnode.wait_answering(url, expect="version: v1")
    assert run.code == 1, run.out
    assert images(admin, namespace.name, "web")["app"] == realnode.image(stack, "healthy")
    canary = deployment(admin, namespace.name, "web-canary")
    assert canary is not None and canary.spec.replicas == 0
    state = canary_state(admin, namespace.name)
    assert (state["status"], state["weight"]) == ("aborted", 10), state  # at the first step
    assert traffic.failed_versions["v1"] == 0 and traffic.failed_versions["?"] == 0, traffic.summary()
    assert traffic.versions["v1"], traffic.summary()
    return run.last, traffic


@pytest.mark.real_node
@pytest.mark.parametrize(
    ("behaviour", "analysis", "check"),
    [
        # every 5th request of the canary fails: about 80% success, far below 99%
        pytest.param("errors-20", json.dumps(["request_success_rate"]), "request_success_rate", id="errors-20"),
        # every request of the canary takes 0.5 s: p99 about 500 ms, above 250 ms
        pytest.param("slow", BUILTINS, "request_duration_p99", id="slow-p99"),
    ],
)
def test_bad_canary_is_aborted_at_the_first_step(
    stack: dict[str, str],
    prometheus: str,
    deploy: Deploy,
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
    behaviour: str,
    analysis: str,
    check: str,
) -> None:
    last, traffic = _aborted_canary(stack, prometheus, deploy, namespace, kube_admin, tmp_path, behaviour, analysis)
    assert f"canary aborted at 10%: analysis {check} failed: " in last, last
    measured = last.split(f"{check} failed: ")[1]
    if check == "request_success_rate":
        assert 70 <= float(measured.split("%")[0]) <= 90, last
        assert traffic.failed_versions["v2"], traffic.summary()  # the canary's errors reached the client
    else:
        assert 250 < float(measured.split("ms")[0]) <= 1000 and "ms > max 250ms" in measured, last


# -- Prometheus only: kwok pods ---------------------------------------------------------------------------------

NOTHING = 'sum(rate(nothing_here{namespace="{{ namespace }}"}[{{ interval }}]))'  # a query matching nothing


def no_data(**extra: str) -> str:
    return json.dumps([{"name": "nothing", "query": NOTHING, "min": 0, **extra}])


def _stable_on_kwok(deploy: Deploy, tmp_path: Path, extra: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    manifests = write_manifests(tmp_path / "k8s", f"{IMAGE}:v1", real=False, extra=list(extra))
    run = deploy(manifests=manifests)
    assert run.code == 0, run.out
    return manifests


def test_no_data_fails_by_default_and_passes_with_on_no_data_pass(
    prometheus: str,
    deploy: Deploy,
    deployer: Harness,
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
) -> None:
    manifests = _stable_on_kwok(deploy, tmp_path)
    common = {
        "manifests": manifests,
        "image": f"{IMAGE}:v2",
        "strategy": "canary",
        "canary_steps": json.dumps([{"weight": 50, "pause": "1s"}, 100]),
        "analysis_interval": "1s",
        "prometheus_url": prometheus,
    }
    run = deploy(**common, analysis=no_data())
    assert run.code == 1, run.out
    assert "analysis nothing failed: no data (on_no_data: fail) (more than failure_limit 0" in run.last, run.last
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"

    run = deploy(**common, analysis=no_data(on_no_data="pass"))
    assert run.code == 0, run.out
    assert [m["verdict"] for m in run.report["analysis"]] == ["pass"]
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v2"

    # deployment-verify's one-off analysis: the same check fails the step, in the report and the JUnit file
    junit = tmp_path / "verify.xml"
    verified = deployer.run(
        verify_main, None, deployments="web", analysis=no_data(), prometheus_url=prometheus, junit_file=junit
    )
    assert verified.code == 1, verified.out
    assert "analysis nothing: no data" in verified.out.strip().splitlines()[-1], verified.out
    assert 'name="analysis nothing"' in junit.read_text() and "<failure" in junit.read_text()


@pytest.fixture
def own_prometheus(stack: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Prometheus of this test's own (the stack's binary, nothing to scrape), which the test may stop."""
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 2s}\nscrape_configs: []\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            stack["PROMETHEUS_BIN"],
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(ready, 60, 0.2, "a Prometheus of the test's own ready")
        yield url, proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_stopped_mid_analysis_fails_the_check_and_promotes_nothing(
    own_prometheus: tuple[str, subprocess.Popen[bytes]],
    deploy: Deploy,
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
) -> None:
    url, proc = own_prometheus
    manifests = _stable_on_kwok(deploy, tmp_path)
    result: dict[str, Any] = {}
    analysis = json.dumps([{"name": "always", "query": "vector(1)", "min": 1, "failure_limit": 0}])
    thread = threading.Thread(
        target=lambda: result.update(
            run=deploy(
                manifests=manifests,
                image=f"{IMAGE}:v2",
                strategy="canary",
                canary_steps=json.dumps([{"weight": 50, "pause": "30s", "analysis_interval": "1s"}, 100]),
                analysis=analysis,
                prometheus_url=url,
            )
        )
    )
    thread.start()

    def analysed() -> bool:
        canary = deployment(kube_admin, namespace.name, "web-canary")
        state = (canary.metadata.annotations or {}).get(STATE_ANNOTATION, "{}") if canary else "{}"
        return "analysis" in json.loads(state)

    wait_for(analysed, 60, 0.2, "a first analysis run")
    proc.kill()  # Prometheus goes away mid-analysis
    thread.join(timeout=120)
    run = result["run"]
    assert run.code == 1, run.out
    assert f"analysis always failed: Prometheus at {url} unreachable: Connection refused" in run.last, run.last
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"  # nothing promoted
    verdicts = [m["verdict"] for m in run.report["analysis"]]
    assert verdicts[0] == "pass" and verdicts[-1] == "fail"


ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "site"},
    "spec": {
        "parentRefs": [{"name": "gateway"}],
        "rules": [{"backendRefs": [{"name": "web", "port": 80}]}],
    },
}


def route_weights(admin: client.ApiClient, ns: str) -> list[tuple[str, int]]:
    route = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", ns, "httproutes", "site"
    )
    return [(ref["name"], ref.get("weight", 1)) for ref in route["spec"]["rules"][0]["backendRefs"]]


def test_httproute_weights_follow_the_steps_exactly(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    manifests = _stable_on_kwok(deploy, tmp_path, [ROUTE])
    gate = json.dumps([{"weight": 10, "pause": "until promoted"}, {"weight": 50, "pause": "until promoted"}, 100])
    settings = {
        "manifests": manifests,
        "image": f"{IMAGE}:v2",
        "strategy": "canary",
        "service": "web",
        "canary_route": "site",
        "canary_steps": gate,
    }
    run = deploy(**settings)
    assert run.code == 0, run.out
    assert route_weights(kube_admin, namespace.name) == [("web", 90), ("web-canary", 10)]
    assert canary_state(kube_admin, namespace.name)["status"] == "paused"
    run = deploy(**settings, canary_action="promote")  # resumes at the next step
    assert run.code == 0, run.out
    assert route_weights(kube_admin, namespace.name) == [("web", 50), ("web-canary", 50)]
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v1"
    run = deploy(**settings, canary_action="promote")  # paused at the last step: promote
    assert run.code == 0, run.out
    assert route_weights(kube_admin, namespace.name) == [("web", 100)]
    assert images(kube_admin, namespace.name, "web")["app"] == f"{IMAGE}:v2"
    assert deployment(kube_admin, namespace.name, "web-canary") is None


def test_replica_fallback_reports_its_effective_weight_and_refuses_a_far_one(
    deploy: Deploy, namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    manifests = _stable_on_kwok(deploy, tmp_path)
    before = objects_in(kube_admin, namespace.name)
    run = deploy(manifests=manifests, image=f"{IMAGE}:v2", strategy="canary", canary_weight="10")
    assert run.code == 2, run.out
    assert (
        "asked 10%, replicas give 33% (1 canary pod(s) beside 2 stable), off by more than max_weight_error" in run.last
    )
    assert objects_in(kube_admin, namespace.name) == before
    run = deploy(manifests=manifests, image=f"{IMAGE}:v2", strategy="canary", canary_weight="40")
    assert run.code == 0, run.out
    assert "Canary at asked 40%, replicas give 33%: 1 canary pod(s) beside 2 stable" in run.out


@pytest.mark.parametrize(
    ("analysis", "problem"),
    [
        pytest.param('{"name": "x"}', "PLUGIN_ANALYSIS: ", id="not-a-list"),
        pytest.param(
            json.dumps([{"name": "broken", "query": "sum(rate(x[1m])", "min": 1}]),
            'check "broken": the query does not parse: invalid parameter "query": 1:16: parse error: unclosed left',
            id="query-does-not-parse",
        ),
        pytest.param(
            json.dumps([{"name": "x", "query": "up", "min": "ninety"}]), 'min "ninety" is not a number', id="threshold"
        ),
        pytest.param(
            json.dumps([{"name": "x", "query": "up{pod='{{ target }}'}", "min": 1}]),
            "unknown placeholder {{ target }}",
            id="unknown-placeholder",
        ),
    ],
)
def test_bad_analysis_exits_2_before_anything_changes(
    prometheus: str,
    deploy: Deploy,
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
    analysis: str,
    problem: str,
) -> None:
    manifests = _stable_on_kwok(deploy, tmp_path)
    before = objects_in(kube_admin, namespace.name)
    run = deploy(
        manifests=manifests,
        image=f"{IMAGE}:v2",
        strategy="canary",
        canary_weight="50",
        analysis=analysis,
        prometheus_url=prometheus,
    )
    assert run.code == 2, run.out
    assert "PLUGIN_ANALYSIS: " in run.last and problem in run.last, run.last
    assert objects_in(kube_admin, namespace.name) == before
    assert deployment(kube_admin, namespace.name, "web-canary") is None


# -- the stack's Prometheus itself ---------------------------------------------------------------------------------


def test_stack_prometheus_discovers_with_a_read_only_service_account(
    stack: dict[str, str], prometheus: str, kube_admin: client.ApiClient
) -> None:
    config = yaml.safe_load(Path(stack["PROMETHEUS_CONFIG"]).read_text())
    sd = config["scrape_configs"][0]["kubernetes_sd_configs"][0]
    assert sd["role"] == "pod" and sd["api_server"] == stack["KUBE_SERVER"]
    who = "system:serviceaccount:shipline-monitoring:prometheus"
    review = client.AuthorizationV1Api(kube_admin)

    def allowed(verb: str, resource: str) -> bool:
        body = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=who, resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource)
            )
        )
        return bool(review.create_subject_access_review(body).status.allowed)

    assert allowed("list", "pods") and allowed("watch", "pods")
    assert not allowed("list", "secrets") and not allowed("create", "pods") and not allowed("delete", "pods")
    # it answers and its build has Kubernetes discovery (Debian's has none): the config above loaded
    status = requests.get(f"{prometheus}/api/v1/status/config", timeout=5).json()
    assert "kubernetes_sd_configs" in status["data"]["yaml"]
