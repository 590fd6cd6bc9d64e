"""Rolling: apply every object, prune, wait for the Deployments' rollouts, undo a failed one."""

from __future__ import annotations

from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import Rolling
from shared.errors import RolloutFailed


def run_rolling(run: Execution, steps: Rolling) -> None:
    plan, options, log = run.plan, run.options, run.log
    log.heading(("Server-side dry run of " if options.dry_run else "Apply ") + f"{len(plan.objects)} objects")
    outcomes = run.apply_all(plan.objects)
    run.prune()
    if options.dry_run or not options.wait:
        return
    for name in steps.wait_for:
        log.heading(f"Wait for the rollout of deployment {name}")
        try:
            run.wait(name)
        except RolloutFailed as failure:
            if not options.rollback_on_failure:
                raise
            outcome = outcomes.get(("Deployment", name))
            if outcome is None or outcome.action != "configured":
                raise RolloutFailed(
                    f"{failure}; nothing to roll back to (the deployment is new or unchanged)"
                ) from None
            raise run.undo(name, failure) from None
