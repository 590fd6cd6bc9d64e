"""Benchmark (not a test): chaos-kill against kubectl, same run, same Deployment, as the least-privilege deployer
of a fresh namespace (stack/rbac-deployer.yaml).

One round: kill 1 of a Deployment's 4 pods and wait until all 4 are available again.
  shipline:  chaos-kill (mode one, through the Eviction API by default, then its recovery wait)
  reference: `kubectl delete pod <one>` + `kubectl rollout status deployment/<name>`
The reference's victim is chosen before its clock starts (chaos-kill lists and chooses inside its time).
After each reference run the Deployment is read once: if kubectl returned while fewer than 4 pods were
available (its status check can run before the controller noticed the loss), that is counted and printed.

Never fails on timing: exits 1 only if a tool itself failed (or the stack is missing).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlib import (
    REPETITIONS,
    Case,
    admin_client,
    bench_namespace,
    print_table,
    run,
    run_plugin,
    run_timed,
    wait_for,
)
from kubernetes import client

from tests.integration.stacklib import deployment_manifest

NAME = "victim"
REPLICAS = 4


def available(apps: client.AppsV1Api, namespace: str) -> int:
    status = apps.read_namespaced_deployment_status(NAME, namespace).status
    return status.available_replicas or 0


def fully_available(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> bool:
    """4 available, and exactly 4 pods (none terminating) — the state both tools start from."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={NAME}").items
    live = [p for p in pods if p.metadata.deletion_timestamp is None]
    return available(apps, namespace) == REPLICAS and len(live) == len(pods) == REPLICAS


def main(stack: dict[str, str]) -> int:
    case = Case("kill 1 of 4, until 4 available")
    early = 0
    api = admin_client(stack)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-chaos-") as tmp, bench_namespace(stack, "bench-chaos") as ns:
            kubeconfig = str(ns.write_kubeconfig(Path(tmp) / "deployer.kubeconfig"))
            kubectl = [stack.get("KUBECTL") or "kubectl", "--kubeconfig", kubeconfig, "-n", ns.name]
            victim = deployment_manifest(NAME, "registry.local/bench/victim:v1", REPLICAS)
            apps.create_namespaced_deployment(ns.name, victim)

            def ready() -> bool:
                return fully_available(core, apps, ns.name)

            def shipline() -> float:
                settings = {"label_selector": f"app={NAME}", "mode": "one", "recovery_timeout": "60s"}
                return run_plugin("chaos-kill", ns, settings, tmp)

            def reference() -> float:
                pods = core.list_namespaced_pod(ns.name, label_selector=f"app={NAME}").items
                victim = sorted(str(p.metadata.name) for p in pods if p.metadata)[0]
                took = run_timed([*kubectl, "delete", "pod", victim])
                return took + run_timed([*kubectl, "rollout", "status", f"deployment/{NAME}", "--timeout=60s"])

            # One unmeasured round each (imports, kubectl's discovery cache), then the measured ones.
            for repetition in range(REPETITIONS + 1):
                wait_for(ready, 60, what=f"{NAME} fully available")
                ours = shipline()
                wait_for(ready, 60, what=f"{NAME} fully available")
                theirs = reference()
                if available(apps, ns.name) < REPLICAS:
                    early += 1
                if repetition:
                    case.shipline.append(ours)
                    case.reference.append(theirs)
    finally:
        api.close()
    print_table(
        "chaos: kill one pod, wait for full availability",
        "chaos-kill",
        "kubectl delete pod + kubectl rollout status",
        [case],
    )
    if early:
        print(f"   note: kubectl returned before all {REPLICAS} pods were available in {early} of the runs\n")
    return 0


if __name__ == "__main__":
    run(main)
