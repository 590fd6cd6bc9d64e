"""Things that change the cluster: killing one pod, by deletion or through the Eviction API."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from plugins.chaos_kill.plan import KillMethod
from plugins.chaos_kill.selection import Pod, show
from shared.kube import Cluster, api_message

KILLED, PROTECTED, GONE = "killed", "protected by a PodDisruptionBudget", "already gone"
# Refusals a chaos run expects: a budget (429), the pod gone (404) or replaced (409 on the uid precondition).
OUTCOMES = (404, 409, 429)


@dataclass(frozen=True)
class Kill:
    pod: str
    uid: str
    node: str
    owner: str
    workload: str
    outcome: str  # KILLED | PROTECTED | GONE
    detail: str = ""


def kill_pod(cluster: Cluster, namespace: str, pod: Pod, method: KillMethod) -> Kill:
    """Delete `pod` (or ask the Eviction API to), never raising for the outcomes a chaos run expects:
    a budget refusing the eviction (429) or the pod having gone already (404)."""
    options = client.V1DeleteOptions(
        grace_period_seconds=method.grace_period,
        # The uid precondition: never kill a same-named replacement (StatefulSets reuse names).
        preconditions=client.V1Preconditions(uid=pod.uid) if pod.uid else None,
    )
    owner = show(pod.owner) if pod.owner else "(no owner)"
    result = Kill(pod.name, pod.uid, pod.node or "(unscheduled)", owner, pod.workload_name, KILLED)
    try:
        if method.eviction:
            body = client.V1Eviction(
                api_version="policy/v1",
                kind="Eviction",
                metadata=client.V1ObjectMeta(name=pod.name, namespace=namespace),
                delete_options=options,
            )
            cluster.call(cluster.core.create_namespaced_pod_eviction, pod.name, namespace, body, expect=OUTCOMES)
        else:
            cluster.call(cluster.core.delete_namespaced_pod, pod.name, namespace, body=options, expect=OUTCOMES)
    except ApiException as e:
        if e.status == 429:
            return replace(result, outcome=PROTECTED, detail=api_message(e))
        if e.status == 404 or "uid" in (e.body or "").lower():
            return replace(result, outcome=GONE, detail=api_message(e))
        raise cluster.explain(e) from None
    return result
