"""Blue/green: the new version goes to the idle colour, waits until fully Ready, and only then does the Service
switch to it. A failure before the switch leaves traffic where it was; a failure after it switches back. The
previous colour is scaled to zero after `scale_down_delay`, unless `keep_previous`."""

from __future__ import annotations

from plugins.kubectl_helm_deploy import colors
from plugins.kubectl_helm_deploy.rolling import Deploy, wait_for_endpoints
from shared.errors import PluginError, RolloutFailed

# How long the Service may take to show Ready endpoints after a switch before it is switched back.
SWITCH_CHECK_SECONDS = 60.0


def run_blue_green(deploy: Deploy) -> None:
    plan, values, log, applier = deploy.plan, deploy.values, deploy.log, deploy.applier
    target = plan.object("Deployment", plan.target)
    service = plan.object("Service", values.service)
    assert target is not None and service is not None  # the plan checked both
    live_service = applier.get("v1", "Service", values.service)
    live = colors.live_color(live_service)
    new = colors.idle_color(live)
    new_name = colors.colored_name(plan.target, new)
    log.heading(f"Blue/green: {live or 'nothing'} serves; the new version goes to {new} ({new_name})")
    deploy.notes.append(f"colour {new}")

    others = [m for m in plan.objects if m not in (target, service)]
    deploy.apply_all(others)
    deploy.apply(colors.colored_deployment(target.obj, new), force=True)
    keep = {("Deployment", colors.colored_name(plan.target, c)) for c in colors.COLORS}
    if values.dry_run:
        deploy.apply(colors.service_for(service.obj, new))
        deploy.prune(keep)
        return

    try:
        log.heading(f"Wait for {new_name} to be Ready (traffic stays on {live or 'nothing'})")
        deploy.wait(new_name)
        if values.preview_service:
            log.heading(f"Preview: point {values.preview_service} at {new}")
            preview = plan.object("Service", values.preview_service)
            if preview is not None:
                deploy.apply(colors.service_for(preview.obj, new))
            else:
                applier.patch("v1", "Service", values.preview_service, colors.selector_patch(new))
            wait_for_endpoints(deploy.api, plan.namespace, values.preview_service, values.timeout, log)
    except PluginError as failure:
        raise _abandon(deploy, new_name, live, failure) from None

    log.heading(f"Switch service {values.service} to {new}")
    deploy.apply(colors.service_for(service.obj, new))
    try:
        wait_for_endpoints(deploy.api, plan.namespace, values.service, min(values.timeout, SWITCH_CHECK_SECONDS), log)
    except PluginError as failure:
        if live is None:
            raise
        log.heading(f"Switch service {values.service} back to {live}")
        applier.patch("v1", "Service", values.service, colors.selector_patch(live))
        raise RolloutFailed(f"{failure}; switched {values.service} back to {live}") from None
    deploy.notes.append(f"service {values.service} now selects {new}")

    if live is not None:
        old_name = colors.colored_name(plan.target, live)
        deploy.record_images(old_name)
        if values.keep_previous:
            log.info(f"{old_name} keeps running (keep_previous)")
        else:
            deploy.pause(values.scale_down_delay, f"{old_name} stays up for scale_down_delay")
            applier.patch("apps/v1", "Deployment", old_name, {"spec": {"replicas": 0}})
            log.info(f"{old_name} scaled to 0")
            deploy.serving.pop(old_name, None)
    deploy.prune(keep)


def _abandon(deploy: Deploy, new_name: str, live: str | None, failure: PluginError) -> PluginError:
    """The new colour failed before the switch: traffic never moved; scale the failed colour away."""
    text = f"{failure}; traffic stays on {live}" if live else f"{failure}; the service was not switched"
    if deploy.values.rollback_on_failure:
        deploy.applier.patch("apps/v1", "Deployment", new_name, {"spec": {"replicas": 0}})
        text += f"; {new_name} scaled to 0"
    if live:
        old = colors.colored_name(deploy.plan.target, live)
        images = deploy.record_images(old)
        text += f" ({old}: {', '.join(f'{c}={i}' for c, i in images.items())})"
    return RolloutFailed(text) if isinstance(failure, RolloutFailed) else type(failure)(text)
