"""Canary: `<name>-canary` runs the new image beside the stable Deployment.

start   steps through the weights (canary replicas = ceil(weight% of stable), or an ingress-nginx canary
        Ingress copy when `canary_ingress` is set); a weight of 100 promotes.
promote the stable Deployment takes the new image (rolling, undone on failure); the canary is removed.
abort   the canary is removed; the stable Deployment is untouched.
"""

from __future__ import annotations

from typing import Any

from plugins.kubectl_helm_deploy import weights, workload
from plugins.kubectl_helm_deploy.rolling import Deploy, run_rolling
from shared.errors import PluginError, RolloutFailed


def run_canary(deploy: Deploy) -> None:
    action = deploy.values.canary_action
    if action == "abort":
        remove_canary(deploy, "abort")
    elif action == "promote":
        promote(deploy)
    else:
        start(deploy)


def _canary_objects(deploy: Deploy) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of everything a canary adds."""
    values, target = deploy.values, deploy.plan.target
    found = [("apps/v1", "Deployment", weights.canary_name(target))]
    if values.canary_ingress:
        found.append(("v1", "Service", weights.canary_name(values.service)))
        found.append(("networking.k8s.io/v1", "Ingress", weights.canary_name(values.canary_ingress)))
    return found


def remove_canary(deploy: Deploy, why: str) -> None:
    deploy.log.heading(f"Remove the canary ({why})")
    for api_version, kind, name in _canary_objects(deploy):
        if deploy.values.dry_run:
            deploy.log.info(f"{kind}/{name} would be deleted")
            continue
        gone = deploy.applier.delete(api_version, kind, name)
        deploy.log.info(f"{kind}/{name} {'deleted' if gone else 'not found'}")
    deploy.notes.append(f"canary removed ({why})")
    if not deploy.values.dry_run:
        deploy.record_images(deploy.plan.target)


def promote(deploy: Deploy) -> None:
    deploy.log.heading(f"Promote: deployment {deploy.plan.target} takes the new image")
    run_rolling(deploy)
    remove_canary(deploy, "promoted")


def start(deploy: Deploy) -> None:
    plan, values, log, applier = deploy.plan, deploy.values, deploy.log, deploy.applier
    target = plan.object("Deployment", plan.target)
    assert target is not None
    stable = applier.get("apps/v1", "Deployment", plan.target)
    if stable is None:
        # The very first deploy has nothing to compare against: the stable Deployment starts on the new image,
        # and the canary steps then run beside it (so a pipeline's canary/verify/promote steps work from day one).
        log.warn(f"no stable deployment {plan.target} yet: it is created with the new image first")
        run_rolling(deploy)
        stable = applier.get("apps/v1", "Deployment", plan.target) or target.obj
    stable_replicas = workload.replicas_of(stable)
    deploy.record_images(plan.target)
    log.heading("Apply everything but the stable Deployment")
    deploy.apply_all([m for m in plan.objects if m is not target])
    ingress = _ingress(deploy) if values.canary_ingress else None
    steps = weights.step_weights(values.canary_steps, values.canary_weight)
    for index, weight in enumerate(steps):
        if weight == 100:
            promote(deploy)
            return
        replicas = weights.canary_replicas(weight, stable_replicas)
        log.heading(f"Canary at {weight}%: {replicas} canary pod(s) beside {stable_replicas} stable")
        canary = weights.canary_deployment(target.obj, replicas)
        deploy.apply(canary, force=True)
        if ingress is not None:
            service = plan.object("Service", values.service)
            live_service = service.obj if service else applier.get("v1", "Service", values.service)
            if live_service is None:
                raise PluginError(f"service {values.service} not found in namespace {plan.namespace}")
            deploy.apply(weights.canary_service(live_service), force=True)
            deploy.apply(weights.canary_ingress(ingress, weight, values.service), force=True)
        if values.dry_run:
            continue
        try:
            deploy.wait(weights.canary_name(plan.target))
        except RolloutFailed as failure:
            if values.rollback_on_failure:
                remove_canary(deploy, "failed")
                raise RolloutFailed(f"{failure}; canary removed, {plan.target} serves as before") from None
            raise
        deploy.notes.append(f"canary at {weight}%")
        if index < len(steps) - 1:
            deploy.pause(values.step_pause, "step_pause before the next canary step")
    deploy.prune({(kind, name) for _, kind, name in _canary_objects(deploy)})


def _ingress(deploy: Deploy) -> dict[str, Any]:
    name = deploy.values.canary_ingress
    found = deploy.plan.object("Ingress", name)
    ingress = found.obj if found else deploy.applier.get("networking.k8s.io/v1", "Ingress", name)
    if ingress is None:
        raise PluginError(
            f"ingress {name} (canary_ingress) not found in the manifests or namespace {deploy.plan.namespace}"
        )
    return ingress
