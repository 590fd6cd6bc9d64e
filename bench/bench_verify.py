"""Benchmark (not a test): deployment-verify against `kubectl rollout status`, on the same rollouts, same run.

1. A good rollout: both start the moment the Deployment is updated; an observer watches the Deployment and notes
   when its status first satisfies kubectl's rollout-complete rules. Printed: each tool's delay from that moment
   to its success exit, and the ratio.
2. A `crash` rollout: the time each tool takes to report the failure. kubectl waits for the progress deadline
   (`progressDeadlineSeconds`, 600 s by default; this benchmark sets CRASH_DEADLINE seconds so it ends).
3. Good rollouts of a StatefulSet and a DaemonSet (on the kwok nodes), measured as in 1 with each kind's rules.

Reads `.stack/env` (make up). Never fails the build on timing: exits 0 unless the stack itself is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kubernetes import client, watch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import admin_client, bench_namespace, console_script, load_stack, plugin_env  # noqa: E402

from shared.rollout import status_of  # noqa: E402

CRASH_DEADLINE = int(os.environ.get("BENCH_CRASH_DEADLINE", "30"))
IMAGE = "127.0.0.1:5000/bench/web"


def deployment(name: str, image: str, deadline: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 3,
            "progressDeadlineSeconds": deadline,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


# The API's name of each kind: AppsV1Api's list_/patch_namespaced_<name>.
API = {"Deployment": "deployment", "StatefulSet": "stateful_set", "DaemonSet": "daemon_set"}
KWOK = {
    "nodeSelector": {"type": "kwok"},
    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Equal", "value": "fake", "effect": "NoSchedule"}],
}


def workload(kind: str, name: str, image: str) -> dict[str, Any]:
    """A StatefulSet (3 replicas) or DaemonSet (every kwok node: the controller places pods from the template)."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}], **KWOK},
        },
    }
    if kind == "StatefulSet":
        spec.update(replicas=3, serviceName=name, podManagementPolicy="Parallel")
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


class Observer(threading.Thread):
    """Notes the first moment the workload's status is complete by kubectl's rules (after `armed`)."""

    def __init__(self, api: client.ApiClient, namespace: str, name: str, kind: str = "Deployment") -> None:
        super().__init__(daemon=True)
        self.api, self.namespace, self.name, self.kind = api, namespace, name, kind
        self.armed = threading.Event()
        self.complete_at: float | None = None

    def run(self) -> None:
        apps = client.AppsV1Api(self.api)
        for event in watch.Watch().stream(
            getattr(apps, f"list_namespaced_{API[self.kind]}"),
            self.namespace,
            field_selector=f"metadata.name={self.name}",
            timeout_seconds=120,
        ):
            obj = self.api.sanitize_for_serialization(event["object"])
            if self.armed.is_set() and status_of(self.kind, obj).done:
                self.complete_at = time.monotonic()
                return


def start_tools(
    env: dict[str, str], namespace: str, name: str, timeout: str, kind: str = "Deployment"
) -> dict[str, tuple[subprocess.Popen[str], list[float]]]:
    settings = {
        "kubeconfig": Path(env["KUBECONFIG"]).read_text(),
        "namespace": namespace,
        "workloads": f"{kind.lower()}/{name}",
        "timeout": timeout,
    }
    kubectl = env.get("KUBECTL") or "kubectl"
    commands = {
        "deployment-verify": ([console_script("deployment-verify")], plugin_env(settings)),
        "kubectl rollout status": (
            [
                kubectl,
                "--kubeconfig",
                env["KUBECONFIG"],
                "-n",
                namespace,
                "rollout",
                "status",
                f"{kind.lower()}/{name}",
                f"--timeout={timeout}",
            ],
            dict(os.environ),
        ),
    }
    started = {}
    for label, (argv, child_env) in commands.items():
        proc = subprocess.Popen(
            argv, env=child_env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        ended: list[float] = []
        threading.Thread(
            target=lambda p=proc, e=ended: (p.communicate(), e.append(time.monotonic())), daemon=True
        ).start()
        started[label] = (proc, ended)
    return started


def wait_all(tools: dict[str, tuple[subprocess.Popen[str], list[float]]], limit: float) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end and any(not ended for _, ended in tools.values()):
        time.sleep(0.05)
    for proc, _ in tools.values():
        if proc.poll() is None:
            proc.kill()


def good_rollout(
    api: client.ApiClient, env: dict[str, str], namespace: str, name: str, image: str, kind: str = "Deployment"
) -> None:
    """Updates workload `name` to `image` and prints each tool's delay from 'status complete' to its success exit."""
    print(f"== good rollout of a {kind}: delay from 'status complete' to the tool's success exit")
    observer = Observer(api, namespace, name, kind)
    observer.start()
    time.sleep(0.5)
    observer.armed.set()
    set_image(api, namespace, name, image, kind)
    tools = start_tools(env, namespace, name, "180s", kind)
    wait_all(tools, 190)
    observer.join(5)
    delays = {}
    for label, (proc, ended) in tools.items():
        if observer.complete_at is None or not ended or proc.returncode != 0:
            print(f"   {label:24} did not succeed (exit {proc.returncode})")
            continue
        delays[label] = ended[0] - observer.complete_at
        print(f"   {label:24} {delays[label] * 1000:8.0f} ms")
    if len(delays) == 2 and delays["kubectl rollout status"] > 0:
        ratio = delays["deployment-verify"] / delays["kubectl rollout status"]
        print(f"   ratio deployment-verify / kubectl: {ratio:.2f}")


def crash_rollout(api: client.ApiClient, env: dict[str, str], namespace: str, name: str, image: str) -> None:
    """Updates Deployment `name` to a crashing `image` and prints the time each tool takes to report the failure."""
    print(f"== crash rollout: time to report the failure (progressDeadlineSeconds={CRASH_DEADLINE})")
    started = time.monotonic()
    set_image(api, namespace, name, image)
    tools = start_tools(env, namespace, name, f"{CRASH_DEADLINE + 60}s")
    wait_all(tools, CRASH_DEADLINE + 70)
    took = {}
    for label, (proc, ended) in tools.items():
        if ended:
            took[label] = ended[0] - started
            print(f"   {label:24} {took[label]:8.1f} s  (exit {proc.returncode})")
        else:
            print(f"   {label:24} still waiting")
    if len(took) == 2:
        ratio = took["deployment-verify"] / took["kubectl rollout status"]
        print(f"   ratio deployment-verify / kubectl: {ratio:.3f}")
        print("   (kubectl reports only at the progress deadline: 600 s with the default)")


def set_image(api: client.ApiClient, namespace: str, name: str, image: str, kind: str = "Deployment") -> None:
    patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]
    getattr(client.AppsV1Api(api), f"patch_namespaced_{API[kind]}")(name, namespace, patch)


def main() -> int:
    env = load_stack()
    api = admin_client(env)
    apps = client.AppsV1Api(api)
    with bench_namespace(env, "bench-verify") as ns:
        namespace = ns.name
        apps.create_namespaced_deployment(namespace, deployment("web", f"{IMAGE}:v1", CRASH_DEADLINE))
        tools = start_tools(env, namespace, "web", "60s")
        wait_all(tools, 70)  # the first rollout: also warms caches for both tools
        good_rollout(api, env, namespace, "web", f"{IMAGE}:v2")
        crash_rollout(api, env, namespace, "web", f"{IMAGE}:crash")
        for kind, name in (("StatefulSet", "db"), ("DaemonSet", "agent")):
            getattr(apps, f"create_namespaced_{API[kind]}")(namespace, workload(kind, name, f"{IMAGE}:v1"))
            wait_all(start_tools(env, namespace, name, "60s", kind), 70)  # the first rollout, unmeasured
            good_rollout(api, env, namespace, name, f"{IMAGE}:v2", kind)
    return 0


if __name__ == "__main__":
    sys.exit(main())
