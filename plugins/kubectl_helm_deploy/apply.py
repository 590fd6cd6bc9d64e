"""Server-side apply (field manager `shipline`), one object at a time, saying for each whether it was created,
configured or left unchanged; pruning; and server-side dry runs with a diff. Plain REST through the Cluster: each
kind's path comes from the server's list of its group version's resources (what kubectl's discovery reads)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.exceptions import ApiException

from plugins.kubectl_helm_deploy.diff import render_diff
from shared.errors import PluginError
from shared.kube import Cluster, api_path

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


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    api_version: str
    plural: str
    namespaced: bool

    def path(self, namespace: str | None, name: str = "") -> str:
        return api_path(self.api_version, self.plural, namespace or "", name)


class Applier:
    """Applies, reads and deletes any kind the API server serves, in one namespace by default."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.served: dict[str, dict[str, Resource]] = {}  # apiVersion -> kind -> where, as discovered

    def resource(self, api_version: str, kind: str) -> Resource:
        if api_version not in self.served:
            listed = self.cluster.read(api_path(api_version), missing_ok=True)  # a group version not served: 404
            self.served[api_version] = {
                r["kind"]: Resource(api_version, r["name"], bool(r.get("namespaced")))
                for r in listed.get("resources") or []
                if "/" not in r["name"]  # subresources (deployments/scale) share their kind
            }
        found = self.served[api_version].get(kind)
        if found is None:
            raise PluginError(f"{kind} ({api_version}) is not served by {self.cluster.server}")
        return found

    def _where(self, obj: dict[str, Any]) -> tuple[Resource, str, str | None]:
        resource = self.resource(obj["apiVersion"], obj["kind"])
        namespace = (obj["metadata"].get("namespace") or self.namespace) if resource.namespaced else None
        return resource, obj["metadata"]["name"], namespace

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The live object, or None when it does not exist."""
        resource = self.resource(api_version, kind)
        ns = (namespace or self.namespace) if resource.namespaced else None
        found: dict[str, Any] = self.cluster.read(resource.path(ns, name), missing_ok=True)
        return found or None

    def apply(self, obj: dict[str, Any], *, dry_run: bool, force_conflicts: bool) -> Outcome:
        """Server-side apply `obj`; with `dry_run` the server only says what it would become."""
        resource, name, namespace = self._where(obj)
        live = self.get(obj["apiVersion"], obj["kind"], name, namespace)
        result: dict[str, Any] = self.cluster.send(
            "PATCH",
            resource.path(namespace, name),
            obj,
            content_type="application/apply-patch+yaml",  # JSON is YAML
            field_manager=FIELD_MANAGER,
            force=force_conflicts or None,
            dry_run="All" if dry_run else None,
        )
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
        return self.cluster.send(  # type: ignore[no-any-return]
            "PATCH",
            resource.path(ns, name),
            body,
            content_type="application/merge-patch+json",
            field_manager=FIELD_MANAGER,
        )

    def delete(self, api_version: str, kind: str, name: str) -> bool:
        """Delete one object; False when it was already gone."""
        resource = self.resource(api_version, kind)
        ns = self.namespace if resource.namespaced else None
        try:
            self.cluster.send("DELETE", resource.path(ns, name), expect=(404,))
        except ApiException:
            return False
        return True

    def list_labelled(self, api_version: str, kind: str, label_selector: str) -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        ns = self.namespace if resource.namespaced else None
        found = self.cluster.read(resource.path(ns), label_selector=label_selector)
        return list(found.get("items") or [])

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
