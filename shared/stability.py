"""`min_stable`: after a rollout completes, its new pods must stay Ready with no new restart for a while.

kubectl calls a rollout done the moment the pods are Ready; an app that crashes a few seconds after becoming
Ready passes that. This watches the new pods (one watch, resumed like every other) for the window and fails
naming the pod and its last termination as soon as one is not Ready or restarts.
"""

from __future__ import annotations

import time
from typing import Any

from shared import rollout
from shared.errors import RolloutFailed
from shared.kube import Cluster, api_path, request_errors
from shared.log import Log
from shared.restart_grace import BACKOFF_START, next_delay
from shared.rollout_wait import PLURAL, label, new_pods
from shared.watching import Watch, WatchExpired


def hold_stable(cluster: Cluster, namespace: str, kind: str, name: str, seconds: float, log: Log) -> None:
    """Watch the new pods of workload `name` for `seconds`; RolloutFailed when one stops being Ready, restarts
    or is deleted."""
    pods = {p["metadata"]["name"]: p for p in new_pods(cluster, namespace, kind, name)}
    baseline = {n: rollout.restart_count(p) for n, p in pods.items()}
    log.progress(f"{label(kind, name)}: rolled out; {len(pods)} new pod(s) must stay Ready for {seconds:g}s")
    started = time.monotonic()
    deadline = started + seconds
    labels = _selector(cluster, namespace, kind, name)
    version = ""
    delay = BACKOFF_START
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            if not version:
                listed = cluster.raw(api_path("v1", "pods", namespace), label_selector=labels)
                version = listed["metadata"]["resourceVersion"]
                current = {p["metadata"]["name"]: p for p in listed.get("items") or []}
                for pod_name in baseline:
                    _judge(pod_name, current.get(pod_name), baseline, kind, name)
            window = max(1, int(remaining + 0.999))
            with Watch(
                cluster.core.list_namespaced_pod,
                namespace,
                version,
                read_timeout=window + 15,
                window=window,
                label_selector=labels,
            ) as watch:
                for event, pod in watch:
                    pod_name = pod["metadata"]["name"]
                    if pod_name in baseline:
                        _judge(pod_name, None if event == "DELETED" else pod, baseline, kind, name)
                    if time.monotonic() >= deadline:
                        break
            version = watch.version
            delay = BACKOFF_START
        except WatchExpired:
            version = ""
        except request_errors() as e:
            if not cluster.should_retry(e, deadline, delay):
                raise cluster.explain(e) from None
            version = ""
            time.sleep(delay)
            delay = next_delay(delay)
    log.info(f"{label(kind, name)}: every new pod stayed Ready with no new restart for {seconds:g}s")


def _judge(pod_name: str, pod: dict[str, Any] | None, baseline: dict[str, int], kind: str, name: str) -> None:
    problem = f"pod {pod_name} disappeared" if pod is None else rollout.stability_problem(pod, baseline[pod_name])
    if problem:
        raise RolloutFailed(f"{label(kind, name)} was not stable after its rollout: {problem}")


def _selector(cluster: Cluster, namespace: str, kind: str, name: str) -> str:
    workload = cluster.read(api_path("apps/v1", PLURAL[kind], namespace, name))
    return rollout.selector_string((workload.get("spec") or {}).get("selector"))
