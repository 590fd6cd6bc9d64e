"""Canary: `<name>-canary` runs the new image beside the stable Deployment.

start   steps through the planned weights (canary replicas, or an ingress-nginx canary Ingress copy); a weight
        of 100 promotes.
promote the stable Deployment takes the new image (rolling, undone on failure); the canary is removed.
abort   the canary is removed; the stable Deployment is untouched.
"""

from __future__ import annotations

from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import Canary
from plugins.kubectl_helm_deploy.rolling import run_rolling
from shared.errors import RolloutFailed


def run_canary(run: Execution, steps: Canary) -> None:
    if steps.action == "abort":
        remove_canary(run, steps, "abort")
    elif steps.action == "promote":
        promote(run, steps)
    else:
        start(run, steps)


def remove_canary(run: Execution, steps: Canary, why: str) -> None:
    run.log.heading(f"Remove the canary ({why})")
    for api_version, kind, name in steps.removes:
        if run.options.dry_run:
            run.log.info(f"{kind}/{name} would be deleted")
            continue
        gone = run.applier.delete(api_version, kind, name)
        run.log.info(f"{kind}/{name} {'deleted' if gone else 'not found'}")
    run.record.notes.append(f"canary removed ({why})")
    if not run.options.dry_run:
        run.record_images(steps.target)


def promote(run: Execution, steps: Canary) -> None:
    run.log.heading(f"Promote: deployment {steps.target} takes the new image")
    run_rolling(run, steps.promote)
    remove_canary(run, steps, "promoted")


def start(run: Execution, steps: Canary) -> None:
    options, log = run.options, run.log
    if steps.create_stable:
        # The very first deploy has nothing to compare against: the stable Deployment starts on the new image,
        # and the canary steps then run beside it (so a pipeline's canary/verify/promote steps work from day one).
        log.warn(f"no stable deployment {steps.target} yet: it is created with the new image first")
        run_rolling(run, steps.promote)
    run.record_images(steps.target)
    log.heading("Apply everything but the stable Deployment")
    run.apply_all(steps.others)
    for index, step in enumerate(steps.steps):
        log.heading(f"Canary at {step.weight}%: {step.replicas} canary pod(s) beside {steps.stable_replicas} stable")
        for obj in (step.deployment, step.service, step.ingress):
            if obj is not None:
                run.apply(obj, force=True)
        if options.dry_run:
            continue
        try:
            run.wait(step.deployment["metadata"]["name"])
        except RolloutFailed as failure:
            if options.rollback_on_failure:
                remove_canary(run, steps, "failed")
                raise RolloutFailed(f"{failure}; canary removed, {steps.target} serves as before") from None
            raise
        run.record.notes.append(f"canary at {step.weight}%")
        if index < len(steps.steps) - 1 or steps.promote_after:
            run.pause(steps.step_pause, "step_pause before the next canary step")
    if steps.promote_after:
        promote(run, steps)
        return
    run.prune()
