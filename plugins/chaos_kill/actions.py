"""Things that change the cluster: killing one pod, by deletion or through the Eviction API."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from plugins.chaos_kill.plan import KillMethod
from plugins.chaos_kill.selection import Pod, show
from shared.kube import explain

KILLED, PROTECTED, GONE = "killed", "protected by a PodDisruptionBudget", "already gone"


@dataclass(frozen=True)
class Kill:
    pod: str
    uid: str
    node: str
    owner: str
    workload: str
    outcome: str  # KILLED | PROTECTED | GONE
    detail: str = ""


def kill_pod(core: client.CoreV1Api, namespace: str, pod: Pod, method: KillMethod) -> Kill:
    """Delete `pod` (or ask the Eviction API to), never raising for the outcomes a chaos run expects:
    a budget refusing the eviction (429) or the pod having gone already (404)."""
    options = client.V1DeleteOptions(
        grace_period_seconds=method.grace_period,
        # The uid precondition: never kill a same-named replacement (StatefulSets reuse names).
        preconditions=client.V1Preconditions(uid=pod.uid) if pod.uid else None,
    )
    owner = show(pod.owner) if pod.owner else "(no owner)"
    result = Kill(pod.name, pod.uid, pod.node or "(unscheduled)", owner, pod.workload_name, KILLED)
    timeout = getattr(core.api_client, "shipline_timeout", 30.0)
    try:
        if method.eviction:
            body = client.V1Eviction(
                api_version="policy/v1",
                kind="Eviction",
                metadata=client.V1ObjectMeta(name=pod.name, namespace=namespace),
                delete_options=options,
            )
            core.create_namespaced_pod_eviction(pod.name, namespace, body, _request_timeout=timeout)
        else:
            core.delete_namespaced_pod(pod.name, namespace, body=options, _request_timeout=timeout)
    except ApiException as e:
        if e.status == 429:
            return replace(result, outcome=PROTECTED, detail=_message(e))
        if e.status == 404 or (e.status == 409 and "uid" in (e.body or "").lower()):
            return replace(result, outcome=GONE, detail=_message(e))
        raise explain(e, getattr(core.api_client, "shipline_server", "the API server")) from None
    except (urllib3.exceptions.HTTPError, OSError) as e:
        raise explain(e, getattr(core.api_client, "shipline_server", "the API server")) from None
    return result


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        return str(error.reason)
