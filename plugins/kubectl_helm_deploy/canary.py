"""Canary: `<name>-canary` runs the new image beside the stable Deployment.

start   steps through the planned weights (canary replicas, an ingress-nginx canary Ingress copy, or HTTPRoute
        weights); during each step's pause the analysis runs every analysis_interval; a weight of 100 promotes.
        A check failing more than its failure_limit aborts: traffic back to stable, the canary scaled to zero.
        A step paused `until promoted` ends the run; its state stays on the canary (annotation).
promote resumes a canary paused until promoted at its next step; otherwise the stable Deployment takes the new
        image (rolling, undone on failure) and the canary is removed.
abort   the canary is removed; the stable Deployment is untouched.
"""

from __future__ import annotations

import time
from typing import Any

from plugins.kubectl_helm_deploy import canary_objects
from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import Canary, CanaryStep
from plugins.kubectl_helm_deploy.rolling import run_rolling
from shared.analysis import Measurement, Tally
from shared.errors import RolloutFailed


def run_canary(run: Execution, steps: Canary) -> None:
    if steps.action == "abort":
        remove_canary(run, steps, "abort")
    elif steps.action == "promote" and not steps.resume_at:
        promote(run, steps)
    else:
        start(run, steps)


def remove_canary(run: Execution, steps: Canary, why: str) -> None:
    run.log.heading(f"Remove the canary ({why})")
    restore_route(run, steps)
    for api_version, kind, name in steps.removes:
        if run.options.dry_run:
            run.log.info(f"{kind}/{name} would be deleted")
            continue
        gone = run.applier.delete(api_version, kind, name)
        run.log.info(f"{kind}/{name} {'deleted' if gone else 'not found'}")
    run.record.notes.append(f"canary removed ({why})")
    if not run.options.dry_run:
        run.record_images(steps.target)


def restore_route(run: Execution, steps: Canary) -> None:
    """The HTTPRoute sends everything to the stable Service again (before the canary Service goes)."""
    if steps.route_restore is not None:
        run.apply(steps.route_restore, force=True)


def promote(run: Execution, steps: Canary) -> None:
    run.log.heading(f"Promote: deployment {steps.target} takes the new image")
    run_rolling(run, steps.promote)
    remove_canary(run, steps, "promoted")


def start(run: Execution, steps: Canary) -> None:
    log = run.log
    if steps.create_stable:
        # The very first deploy has nothing to compare against: the stable Deployment starts on the new image,
        # and the canary steps then run beside it (so a pipeline's canary/verify/promote steps work from day one).
        log.warn(f"no stable deployment {steps.target} yet: it is created with the new image first")
        run_rolling(run, steps.promote)
    run.record_images(steps.target)
    log.heading("Apply everything but the stable Deployment")
    run.apply_all(steps.others)
    tally = Tally(steps.analysis)
    for index in range(steps.resume_at, len(steps.steps)):
        if not run_step(run, steps, index, tally):
            run.prune()
            return  # paused until promoted
    if steps.promote_after:
        promote(run, steps)
        return
    run.prune()


def run_step(run: Execution, steps: Canary, index: int, tally: Tally) -> bool:
    """One step: its objects applied and Ready, its state recorded, then its pause (with analysis); False when it
    pauses until promoted."""
    step, log = steps.steps[index], run.log
    log.heading(f"Canary at {step.split()}: {step.replicas} canary pod(s) beside {steps.stable_replicas} stable")
    for obj in (step.deployment, step.service, step.ingress, step.route):
        if obj is not None:
            run.apply(obj, force=True)
    if run.options.dry_run:
        return True
    try:
        run.wait(step.deployment["metadata"]["name"])
    except RolloutFailed as failure:
        if run.options.rollback_on_failure:
            remove_canary(run, steps, "failed")
            raise RolloutFailed(f"{failure}; canary removed, {steps.target} serves as before") from None
        raise
    run.record.notes.append(f"canary at {step.split()}")
    state = {"step": index + 1, "of": len(steps.steps), "weight": step.weight, "effective": step.effective}
    if step.pause is None:
        save_state(run, steps, {**state, "status": "paused"})
        log.info(f"paused at {step.weight}% until promoted: a later step with canary_action promote (or abort)")
        run.record.notes.append(f"canary paused at step {index + 1} of {len(steps.steps)} until promoted")
        return False
    save_state(run, steps, {**state, "status": "running"})
    if steps.analysis:
        analyse(run, steps, step, tally, state)
    elif index < len(steps.steps) - 1 or steps.promote_after:
        run.pause(step.pause, "pause before the next canary step")
    return True


def analyse(run: Execution, steps: Canary, step: CanaryStep, tally: Tally, state: dict[str, Any]) -> None:
    """The checks every step.interval for the step's pause (at least once); abort when one fails too often."""
    rounds = max(1, int(step.pause // step.interval)) if step.pause else 1
    for number in range(1, rounds + 1):
        run.log.progress(f"analysis {number}/{rounds} at {step.weight}% in {step.interval:g}s")
        time.sleep(step.interval)
        measured = run.analyse(steps.target, canary_objects.canary_name(steps.target), step.interval)
        over = tally.add(measured)
        save_state(run, steps, {**state, "status": "running", "analysis": [_short(m) for m in measured]})
        if over is not None:
            abort(run, steps, step, over)


def abort(run: Execution, steps: Canary, step: CanaryStep, failed: Measurement) -> None:
    """Traffic back to stable, the canary scaled to zero (kept, with its state, for inspection), then exit 1."""
    run.log.heading(f"Abort: analysis {failed.check} failed ({failed.reason})")
    restore_route(run, steps)
    for obj in (step.ingress, step.deployment):
        if obj is not None:
            zero = canary_objects.at_zero(obj)
            run.apply(zero, force=True)
    state = {"status": "aborted", "weight": step.weight, "check": failed.check, "value": failed.shown()}
    save_state(run, steps, {**state, "reason": failed.reason})
    run.record.notes.append(f"canary aborted at {step.weight}%: {failed.check} {failed.reason}")
    limit = next(c.failure_limit for c in steps.analysis if c.name == failed.check)
    raise RolloutFailed(
        f"canary aborted at {step.weight}%: analysis {failed.check} failed: {failed.reason} (more than "
        f"failure_limit {limit} failures); traffic back to {steps.target}, canary scaled to 0"
    )


def save_state(run: Execution, steps: Canary, state: dict[str, Any]) -> None:
    name = canary_objects.canary_name(steps.target)
    run.applier.patch("apps/v1", "Deployment", name, canary_objects.state_patch(state))


def _short(m: Measurement) -> dict[str, Any]:
    return {"check": m.check, "value": m.shown(), "verdict": m.verdict, "at": m.at}
