"""chaos-kill against the real stack: the ReplicaSet controller really replaces the pods we kill, kwok makes the
replacements Ready after SHIPLINE_READY_DELAY_MS, PodDisruptionBudgets are enforced by the real API server. Real
kills and their measured recovery, as the Service sees it, are proven on the real node (test_real_node.py).

The plugin runs in-process (`main()`), as a pipeline would run it: the deployer token of a throw-away
namespace (kubernetes_server + kubernetes_cert + kubernetes_token). The test's own setup uses the admin client.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from plugins.chaos_kill.__main__ import main
from tests.harness import Harness, Run

from .stacklib import Namespace, deployment_manifest, wait_for

IMAGE = "registry.invalid/shop/web:1"


# ------------------------------------------------------------------------------------------------ helpers


@pytest.fixture
def chaos(deployer: Harness) -> Callable[..., Run]:
    """chaos-kill's main() with `settings` and the deployer's credentials, as a pipeline step would get them."""
    return lambda **settings: deployer.run(main, **settings)


def deployment(
    admin: client.ApiClient,
    ns: str,
    name: str,
    replicas: int,
    labels: dict[str, str] | None = None,
    workload_labels: dict[str, str] | None = None,
) -> None:
    body = deployment_manifest(name, IMAGE, replicas, labels, workload_labels)
    client.AppsV1Api(admin).create_namespaced_deployment(ns, body)
    wait_available(admin, ns, name, replicas)


def wait_available(admin: client.ApiClient, ns: str, name: str, replicas: int) -> None:
    def available() -> bool:
        status = client.AppsV1Api(admin).read_namespaced_deployment(name, ns).status
        return (status.available_replicas or 0) == replicas and (status.replicas or 0) == replicas

    wait_for(available, 60, what=f"deployment {name} with {replicas} available pods")


def pods(admin: client.ApiClient, ns: str, selector: str) -> dict[str, str]:
    """uid -> name of the pods that are not terminating."""
    items = client.CoreV1Api(admin).list_namespaced_pod(ns, label_selector=selector).items
    return {p.metadata.uid: p.metadata.name for p in items if not p.metadata.deletion_timestamp}


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def killed(data: dict[str, Any], round_index: int = 0) -> list[dict[str, Any]]:
    return [k for k in data["rounds"][round_index]["kills"] if k["outcome"] == "killed"]


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        body = b"ok" if self.status == 200 else b"broken"
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def http_server(status: int) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def healthy_url() -> Iterator[str]:
    yield from http_server(200)


@pytest.fixture
def broken_url() -> Iterator[str]:
    yield from http_server(500)


# ------------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param({"mode": "fixed", "value": 2}, 2, id="fixed"),
        pytest.param({"mode": "one"}, 1, id="one"),
        pytest.param({"mode": "all"}, 2, id="all-keeps-the-last-pod"),
        pytest.param({"mode": "all", "allow_total_outage": True}, 3, id="all"),
        pytest.param(
            {"mode": "all", "allow_total_outage": True, "respect_pdb": False, "force": True}, 3, id="all-by-delete"
        ),
    ],
)
def test_modes(
    chaos: Callable[..., Run],
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
    settings: dict[str, object],
    expected: int,
) -> None:
    deployment(kube_admin, namespace.name, "web", 3)
    code, out = chaos(label_selector="app=web", report_file=tmp_path / "r.json", **settings)
    assert code == 0
    data = report(tmp_path / "r.json")
    assert len(killed(data)) == expected
    assert data["rounds"][0]["recovered"] is True
    wait_available(kube_admin, namespace.name, "web", 3)


def test_rounds_reselect_among_replacements(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    code, out = chaos(label_selector="app=web", rounds=2, report_file=tmp_path / "r.json")
    assert code == 0
    data = report(tmp_path / "r.json")
    assert [len(killed(data, i)) for i in range(2)] == [1, 1]
    assert all(r["recovered"] for r in data["rounds"])


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        pytest.param({"namespace": "kube-system"}, "PLUGIN_NAMESPACE", id="kube-system"),
        pytest.param({"label_selector": ""}, "PLUGIN_LABEL_SELECTOR: is required", id="empty-selector"),
        pytest.param({"mode": "percent", "value": 150}, "PLUGIN_VALUE", id="percent-150"),
    ],
)
def test_refused_with_exit_2_and_nothing_killed(
    chaos: Callable[..., Run],
    namespace: Namespace,
    kube_admin: client.ApiClient,
    settings: dict[str, object],
    words: str,
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    before = pods(kube_admin, namespace.name, "app=web")
    system_before = pods(kube_admin, "kube-system", "")
    code, out = chaos(**{"label_selector": "app=web", "mode": "all", **settings})
    assert code == 2
    assert words in out.strip().splitlines()[-1]
    assert pods(kube_admin, namespace.name, "app=web") == before
    assert pods(kube_admin, "kube-system", "") == system_before


def test_max_kill_caps_the_round(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 3)
    code, out = chaos(label_selector="app=web", mode="all", max_kill=1, report_file=tmp_path / "r")
    assert code == 0
    assert len(killed(report(tmp_path / "r"))) == 1
    assert "max_kill 1 caps this round at 1 of 3 wanted" in out


def test_min_available_shrinks_the_selection(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 3)
    code, out = chaos(label_selector="app=web", mode="all", min_available=2, report_file=tmp_path / "r")
    assert code == 0, out
    data = report(tmp_path / "r")
    assert len(killed(data)) == 1
    assert "min_available 2 shrinks this round from 3 to 1 pod(s)" in out
    reasons = [e["reason"] for e in data["rounds"][0]["excluded"]]
    assert reasons == ["min_available 2: deployment/web has only 2 Ready pod(s)"] * 2


def test_pod_disruption_budget_is_respected(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 3)
    policy = client.PolicyV1Api(kube_admin)
    policy.create_namespaced_pod_disruption_budget(
        namespace.name,
        client.V1PodDisruptionBudget(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1PodDisruptionBudgetSpec(
                max_unavailable=1, selector=client.V1LabelSelector(match_labels={"app": "web"})
            ),
        ),
    )

    def budget_ready() -> bool:
        status = policy.read_namespaced_pod_disruption_budget("web", namespace.name).status
        return bool(status and status.disruptions_allowed == 1 and status.current_healthy == 3)

    wait_for(budget_ready, 30, what="the PodDisruptionBudget's status")
    code, out = chaos(label_selector="app=web", mode="all", allow_total_outage=True, report_file=tmp_path / "r")
    assert code == 0, out
    kills = report(tmp_path / "r")["rounds"][0]["kills"]
    outcomes = sorted(k["outcome"] for k in kills)
    assert outcomes == ["killed", *["protected by a PodDisruptionBudget"] * 2]
    assert "PodDisruptionBudget protected 2 pod(s)" in out


def test_require_label_on_the_workload_is_enforced(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 2, {"tier": "backend"}, {"shipline.io/chaos": "enabled"})
    deployment(kube_admin, namespace.name, "api", 2, {"tier": "backend"})
    api_before = pods(kube_admin, namespace.name, "app=api")
    code, out = chaos(
        label_selector="tier=backend",
        mode="all",
        allow_total_outage=True,
        require_label="shipline.io/chaos=enabled",
        report_file=tmp_path / "r",
    )
    assert code == 0
    data = report(tmp_path / "r")
    assert sorted(k["workload"] for k in killed(data)) == ["deployment/web", "deployment/web"]
    assert pods(kube_admin, namespace.name, "app=api") == api_before


def test_dry_run_kills_nothing_and_names_the_pods(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    deployment(kube_admin, namespace.name, "web", 3)
    before = pods(kube_admin, namespace.name, "app=web")
    code, out = chaos(label_selector="app=web", mode="all", allow_total_outage=True, dry_run=True)
    assert code == 0, out
    assert f"would kill 3 pod(s): {', '.join(sorted(before.values()))}" in out
    assert pods(kube_admin, namespace.name, "app=web") == before


def test_same_seed_selects_the_same_pods(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    deployment(kube_admin, namespace.name, "web", 6)
    chosen = []
    for i, seed in enumerate(["build-17", "build-17", "other"]):
        path = tmp_path / f"r{i}.json"
        settings = {"mode": "fixed", "value": 3, "dry_run": True, "random_seed": seed, "report_file": path}
        code, out = chaos(label_selector="app=web", **settings)
        assert code == 0, out
        chosen.append(report(path)["rounds"][0]["selected"])
    assert chosen[0] == chosen[1]
    assert len(chosen[0]) == 3


def test_steady_state_failing_before_kills_nothing(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, broken_url: str
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    before = pods(kube_admin, namespace.name, "app=web")
    code, out = chaos(label_selector="app=web", mode="all", probe_urls=broken_url)
    assert code == 1
    last = out.strip().splitlines()[-1]
    assert "steady state not met before the experiment" in last and "HTTP 500" in last
    assert pods(kube_admin, namespace.name, "app=web") == before


def test_chaostoolkit_hypothesis_is_checked(
    chaos: Callable[..., Run],
    namespace: Namespace,
    kube_admin: client.ApiClient,
    tmp_path: Path,
    healthy_url: str,
    broken_url: str,
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    experiment = {
        "title": "web survives a pod kill",
        "configuration": {"healthy": healthy_url, "broken": broken_url},
        "steady-state-hypothesis": {
            "title": "web answers",
            "probes": [
                {
                    "type": "probe",
                    "name": "web-ok",
                    "tolerance": 200,
                    "provider": {"type": "http", "url": "${healthy}"},
                },
                {
                    "type": "probe",
                    "name": "web-5xx",
                    "tolerance": 500,
                    "provider": {"type": "http", "url": "${broken}"},
                },
            ],
        },
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment))
    code, out = chaos(label_selector="app=web", chaostoolkit_experiment=path)
    assert code == 0, out
    assert "before: probe web-ok" in out and "round 1: probe web-5xx" in out

    experiment["steady-state-hypothesis"]["probes"][1]["tolerance"] = 200  # type: ignore[index]
    path.write_text(json.dumps(experiment))
    before = pods(kube_admin, namespace.name, "app=web")
    code, out = chaos(label_selector="app=web", chaostoolkit_experiment=path)
    assert code == 1
    assert "steady state not met before the experiment" in out
    assert pods(kube_admin, namespace.name, "app=web") == before


def test_unready_replacements_never_recover(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient
) -> None:
    # A bare ReplicaSet does not roll its pods when the template changes: the running pods stay Ready (steady
    # state holds), and only the replacements of killed pods get the `unready` image.
    apps = client.AppsV1Api(kube_admin)
    labels = {"app": "web"}
    template = client.V1PodTemplateSpec(
        metadata=client.V1ObjectMeta(labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image=IMAGE)]),
    )
    apps.create_namespaced_replica_set(
        namespace.name,
        client.V1ReplicaSet(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ReplicaSetSpec(
                replicas=2, selector=client.V1LabelSelector(match_labels=labels), template=template
            ),
        ),
    )
    wait_for(
        lambda: (apps.read_namespaced_replica_set("web", namespace.name).status.available_replicas or 0) == 2,
        60,
        what="replicaset web available",
    )
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": IMAGE + "-unready"}]}}}}
    apps.patch_namespaced_replica_set("web", namespace.name, patch)
    code, out = chaos(label_selector="app=web", recovery_timeout="4s")
    assert code == 1, out
    last = out.strip().splitlines()[-1]
    assert "not recovered within recovery_timeout 4s" in last
    assert "replicaset/web: 1 of 2 pods Ready" in last and "not Ready: web-" in last


def test_no_eligible_pod_fails(chaos: Callable[..., Run], namespace: Namespace) -> None:
    code, out = chaos(label_selector="app=nothing-here")
    assert code == 1
    assert "no eligible pod" in out.strip().splitlines()[-1]


def test_statefulset_pod_is_replaced_under_the_same_name(
    chaos: Callable[..., Run], namespace: Namespace, kube_admin: client.ApiClient, tmp_path: Path
) -> None:
    # A StatefulSet's replacement reuses the killed pod's name: recovery must follow uids, not names.
    apps = client.AppsV1Api(kube_admin)
    labels = {"app": "db"}
    apps.create_namespaced_stateful_set(
        namespace.name,
        client.V1StatefulSet(
            metadata=client.V1ObjectMeta(name="db"),
            spec=client.V1StatefulSetSpec(
                replicas=2,
                service_name="db",
                pod_management_policy="Parallel",
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="db", image=IMAGE)]),
                ),
            ),
        ),
    )
    wait_for(
        lambda: (apps.read_namespaced_stateful_set("db", namespace.name).status.available_replicas or 0) == 2,
        60,
        what="statefulset db available",
    )
    before = pods(kube_admin, namespace.name, "app=db")
    code, out = chaos(label_selector="app=db", report_file=tmp_path / "r")
    assert code == 0, out
    data = report(tmp_path / "r")
    (kill,) = killed(data)
    assert kill["workload"] == "statefulset/db" and data["rounds"][0]["recovered"] is True
    after = pods(kube_admin, namespace.name, "app=db")
    assert sorted(after.values()) == sorted(before.values())  # same names ...
    assert kill["uid"] not in after  # ... but the killed one is a new pod
