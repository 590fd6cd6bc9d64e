"""Blue/green: the new version goes to the idle colour, waits until fully Ready, and only then does the Service
switch to it. A failure before the switch leaves traffic where it was; a failure after it switches back. The
previous colour is scaled to zero after `scale_down_delay`, unless `keep_previous`."""

from __future__ import annotations

from plugins.kubectl_helm_deploy import blue_green_objects as colors
from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import BlueGreen
from shared.errors import PluginError, RolloutFailed

# How long the Service may take to show Ready endpoints after a switch before it is switched back.
SWITCH_CHECK_SECONDS = 60.0


def run_blue_green(run: Execution, steps: BlueGreen) -> None:
    options, log, applier = run.options, run.log, run.applier
    new_name = steps.colored(steps.new)
    log.heading(f"Blue/green: {steps.live or 'nothing'} serves; the new version goes to {steps.new} ({new_name})")
    run.record.notes.append(f"colour {steps.new}")
    run.apply_all(steps.others)
    run.apply(steps.deployment, force=True)
    if options.dry_run:
        run.apply(steps.switched_service)
        run.prune()
        return

    try:
        log.heading(f"Wait for {new_name} to be Ready (traffic stays on {steps.live or 'nothing'})")
        run.wait(new_name)
        if steps.preview_service:
            log.heading(f"Preview: point {steps.preview_service} at {steps.new}")
            if steps.preview is not None:
                run.apply(steps.preview)
            else:
                applier.patch("v1", "Service", steps.preview_service, colors.selector_patch(steps.new))
            run.wait_for_endpoints(steps.preview_service, options.timeout)
    except PluginError as failure:
        raise _abandon(run, steps, failure) from None

    log.heading(f"Switch service {steps.service} to {steps.new}")
    run.apply(steps.switched_service)
    try:
        run.wait_for_endpoints(steps.service, min(options.timeout, SWITCH_CHECK_SECONDS))
    except PluginError as failure:
        if steps.live is None:
            raise
        log.heading(f"Switch service {steps.service} back to {steps.live}")
        applier.patch("v1", "Service", steps.service, colors.selector_patch(steps.live))
        raise RolloutFailed(f"{failure}; switched {steps.service} back to {steps.live}") from None
    run.record.notes.append(f"service {steps.service} now selects {steps.new}")

    if steps.live is not None:
        old_name = steps.colored(steps.live)
        run.record_images(old_name)
        if steps.keep_previous:
            log.info(f"{old_name} keeps running (keep_previous)")
        else:
            run.pause(steps.scale_down_delay, f"{old_name} stays up for scale_down_delay")
            applier.patch("apps/v1", "Deployment", old_name, {"spec": {"replicas": 0}})
            log.info(f"{old_name} scaled to 0")
            run.record.serving.pop(old_name, None)
    run.prune()


def _abandon(run: Execution, steps: BlueGreen, failure: PluginError) -> PluginError:
    """The new colour failed before the switch: traffic never moved; scale the failed colour away."""
    new_name, live = steps.colored(steps.new), steps.live
    text = f"{failure}; traffic stays on {live}" if live else f"{failure}; the service was not switched"
    if run.options.rollback_on_failure:
        run.applier.patch("apps/v1", "Deployment", new_name, {"spec": {"replicas": 0}})
        text += f"; {new_name} scaled to 0"
    if live:
        old = steps.colored(live)
        images = run.record_images(old)
        text += f" ({old}: {', '.join(f'{c}={i}' for c, i in images.items())})"
    return RolloutFailed(text) if isinstance(failure, RolloutFailed) else type(failure)(text)
