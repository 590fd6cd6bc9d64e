"""Server-side apply (field manager `shipline`) through the dynamic client, one object at a time, saying for each
whether it was created, configured or left unchanged; pruning; and server-side dry runs with a diff."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from plugins.kubectl_helm_deploy.diff import render_diff
from shared.errors import PluginError
from shared.kube import Cluster

FIELD_MANAGER = "shipline"
# Kinds searched when pruning (what a deployment's manifests usually hold and the deployer Role may list);
# kinds present in the manifests are searched too.
PRUNE_KINDS = (
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apps/v1", "Deployment"),
    ("networking.k8s.io/v1", "Ingress"),
    ("policy/v1", "PodDisruptionBudget"),
)


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    action: str  # created | configured | unchanged | deleted | would create | would change | would not change
    diff: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


class Applier:
    """Applies, reads and deletes any kind the API server serves, in one namespace by default."""

    def __init__(self, cluster: Cluster, namespace: str, *, cache_file: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.dynamic = cluster.dynamic(cache_file)

    def resource(self, api_version: str, kind: str) -> Any:
        try:
            return self.dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise PluginError(f"{kind} ({api_version}) is not served by {self.cluster.server}") from None
        except ApiException as e:
            raise self.cluster.explain(e) from None

    def _where(self, obj: dict[str, Any]) -> tuple[Any, str, str | None]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        return resource, obj["metadata"]["name"], namespace

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        resource = self.resource(api_version, kind)
        ns = (namespace or self.namespace) if resource.namespaced else None
        try:
            found = self.cluster.call(resource.get, name=name, namespace=ns, expect=(404,))
        except ApiException:
            return None
        return found.to_dict()  # type: ignore[no-any-return]

    def apply(self, obj: dict[str, Any], *, dry_run: bool, force_conflicts: bool) -> Outcome:
        """Server-side apply `obj`; with `dry_run` the server only says what it would become."""
        resource, name, namespace = self._where(obj)
        live = self.get(obj["apiVersion"], obj["kind"], name, namespace)
        result = self.cluster.call(
            resource.server_side_apply,
            body=obj,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
            force_conflicts=force_conflicts,
            dry_run="All" if dry_run else None,
        ).to_dict()
        kind = obj["kind"]
        if dry_run:
            diff = render_diff(live, result)
            action = "would create" if live is None else ("would change" if diff else "would not change")
            return Outcome(kind, name, action, diff, result)
        if live is None:
            action = "created"
        elif live["metadata"].get("resourceVersion") == result["metadata"].get("resourceVersion"):
            action = "unchanged"
        else:
            action = "configured"
        return Outcome(kind, name, action, [], result)

    def patch(self, api_version: str, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch (used for the one-field changes: a Service selector, a replica count)."""
        resource = self.resource(api_version, kind)
        ns = self.namespace if resource.namespaced else None
        return self.cluster.call(  # type: ignore[no-any-return]
            resource.patch,
            name=name,
            namespace=ns,
            body=body,
            content_type="application/merge-patch+json",
            field_manager=FIELD_MANAGER,
        ).to_dict()

    def delete(self, api_version: str, kind: str, name: str) -> bool:
        """Delete one object; False when it was already gone."""
        resource = self.resource(api_version, kind)
        ns = self.namespace if resource.namespaced else None
        try:
            self.cluster.call(resource.delete, name=name, namespace=ns, expect=(404,))
        except ApiException:
            return False
        return True

    def list_labelled(self, api_version: str, kind: str, label_selector: str) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        ns = self.namespace if resource.namespaced else None
        found = self.cluster.call(resource.get, namespace=ns, label_selector=label_selector)
        return [item.to_dict() for item in found.items]

    def prune(
        self, label: str, owner: str, keep: set[tuple[str, str]], kinds: list[tuple[str, str]], *, dry_run: bool
    ) -> list[Outcome]:
        """Delete objects labelled `label=owner` whose (kind, name) is not in `keep`."""
        outcomes: list[Outcome] = []
        for api_version, kind in dict.fromkeys([*PRUNE_KINDS, *kinds]):
            for item in self.list_labelled(api_version, kind, f"{label}={owner}"):
                name = item["metadata"]["name"]
                if (kind, name) in keep:
                    continue
                if dry_run:
                    outcomes.append(Outcome(kind, name, "would delete", [f"- {kind} {name} (pruned)"]))
                elif self.delete(api_version, kind, name):
                    outcomes.append(Outcome(kind, name, "deleted"))
        return outcomes
