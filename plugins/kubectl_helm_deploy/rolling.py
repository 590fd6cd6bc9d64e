"""Rolling: apply every object, prune, wait for the rollouts of the Deployments, then the StatefulSets and
DaemonSets, undo a failed one."""

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
    for kind, name in [*(("Deployment", n) for n in steps.wait_for), *steps.workloads]:
        log.heading(f"Wait for the rollout of {kind.lower()} {name}")
        try:
            run.wait(name, kind)
        except RolloutFailed as failure:
            if not options.rollback_on_failure:
                raise
            outcome = outcomes.get((kind, name))
            if outcome is None or outcome.action != "configured":
                raise RolloutFailed(
                    f"{failure}; nothing to roll back to (the {kind.lower()} is new or unchanged)"
                ) from None
            raise run.undo(name, failure, kind) from None
