"""The canary's plan, pure: its steps (weight, pause, analysis interval), the traffic split each step gives (exact
with an HTTPRoute or ingress-nginx, else a replica ratio that must come close enough), the analysis checks, and
where a paused canary resumes (its state annotation on the live `<name>-canary`)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

from plugins.kubectl_helm_deploy import canary_objects
from plugins.kubectl_helm_deploy.manifests import Manifest
from plugins.kubectl_helm_deploy.plan import (
    Canary,
    CanaryStep,
    Live,
    Obj,
    Ref,
    Rolling,
    deployment_ref,
    ingress_ref,
    route_ref,
    service_ref,
)
from plugins.kubectl_helm_deploy.plan import find as _find
from plugins.kubectl_helm_deploy.settings import DECLARATION
from plugins.kubectl_helm_deploy.workload import replicas_of
from shared import analysis
from shared.errors import SettingsError
from shared.settings import Values
from shared.value_types import parse_duration

STEPS = "PLUGIN_CANARY_STEPS"
UNTIL_PROMOTED = "until promoted"
_STEP_KEYS = {"weight", "pause", "analysis_interval"}


@dataclass(frozen=True)
class StepSpec:
    weight: int
    pause: float | None  # seconds; None: until promoted (a later canary_action: promote resumes)
    interval: float  # analysis_interval of this step


def parse_steps(values: Values) -> list[StepSpec]:
    """`canary_steps` (weights, or JSON objects {weight, pause, analysis_interval}), else the one canary_weight."""
    items = values.canary_steps or [values.canary_weight]
    specs = [_step(item, index, values) for index, item in enumerate(items)]
    for before, after in itertools.pairwise(specs):
        if after.weight <= before.weight:
            raise SettingsError(STEPS, f"weight {after.weight} follows {before.weight}: the weights must rise")
    if 100 in [s.weight for s in specs[:-1]]:
        raise SettingsError(STEPS, "weight 100 promotes: it can only be the last step")
    return specs


def _step(item: Any, index: int, values: Values) -> StepSpec:
    where = f"step {index + 1}"
    pause: float | None = float(values.step_pause)
    interval = float(values.analysis_interval)
    if isinstance(item, dict):
        unknown = sorted(set(item) - _STEP_KEYS)
        if unknown:
            raise SettingsError(
                STEPS, f"{where} has an unknown key {unknown[0]!r} (known: {', '.join(sorted(_STEP_KEYS))})"
            )
        if "pause" in item:
            pause = _pause(item["pause"], where)
        if "analysis_interval" in item:
            interval = _duration(item["analysis_interval"], where, "analysis_interval")
            if interval < 1:
                raise SettingsError(STEPS, f"{where}: analysis_interval must be at least 1s")
        item = item.get("weight")
    weight = item if isinstance(item, int) and not isinstance(item, bool) else _digits(item)
    if weight is None or not 1 <= weight <= 100:
        raise SettingsError(STEPS, f'{where}: "{item}" is not a weight between 1 and 100')
    return StepSpec(weight, pause, interval)


def _digits(item: Any) -> int | None:
    return int(item) if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) <= 3 else None


def _pause(raw: Any, where: str) -> float | None:
    if isinstance(raw, str) and " ".join(raw.lower().split()) == UNTIL_PROMOTED:
        return None
    return _duration(raw, where, "pause")


def _duration(raw: Any, where: str, key: str) -> float:
    seconds = float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
    if isinstance(raw, str):
        seconds = parse_duration(raw)
    if seconds is None or not 0 <= seconds <= 86400:
        extra = ' or "until promoted"' if key == "pause" else ""
        raise SettingsError(STEPS, f"{where}: {key} {json.dumps(raw)} is not a duration (e.g. 30s, 5m){extra}")
    return seconds


def effective_weight(replicas: int, stable: int) -> float:
    """The share of traffic `replicas` canary pods get beside `stable` stable pods behind one Service, in %."""
    return 100.0 * replicas / (replicas + stable)


def ratio_replicas(weight: int, stable: int) -> int:
    """Canary pods whose share beside `stable` pods comes closest to `weight`% (at least 1)."""
    return max(1, round(weight * stable / (100 - weight)))


def checks_of(values: Values) -> tuple[analysis.Check, ...]:
    setting = next(s for s in DECLARATION.settings if s.name == "analysis")
    return analysis.parse_checks(
        setting, values.analysis, failure_limit=int(values.failure_limit), on_no_data=str(values.on_no_data)
    )


def build_canary(values: Values, objects: list[Manifest], target: str, live: Live, existing: Any) -> Canary:
    """The canary's plan. `existing(ref, setting, required)` finds an object in the manifests, else the cluster."""
    stable = _find(objects, "Deployment", target)
    assert stable is not None  # target_of found it
    required = values.canary_action != "abort"  # an abort removes the canary whatever the inputs say now
    service_obj = existing(service_ref(values.service), "PLUGIN_SERVICE", required)
    ingress = existing(ingress_ref(values.canary_ingress), "PLUGIN_CANARY_INGRESS", required)
    route = existing(route_ref(values.canary_route), "PLUGIN_CANARY_ROUTE", required)
    if route is not None and required:
        canary_objects.check_route(route, values.service, "PLUGIN_CANARY_ROUTE")
    live_stable = live.get(deployment_ref(target))
    stable_replicas = replicas_of(live_stable or stable.obj)
    specs = parse_steps(values)
    checks = checks_of(values)
    steps: list[CanaryStep] = []
    for spec in [s for s in specs if s.weight < 100 and required]:
        steps.append(_step_plan(values, spec, stable.obj, stable_replicas, service_obj, ingress, route, steps))
    removes: list[Ref] = [deployment_ref(canary_objects.canary_name(target))]
    if values.canary_ingress or values.canary_route:
        removes.append(service_ref(canary_objects.canary_name(values.service)))
    if values.canary_ingress:
        removes.append(ingress_ref(canary_objects.canary_name(values.canary_ingress)))
    state = canary_objects.read_state(live.get(deployment_ref(canary_objects.canary_name(target))))
    return Canary(
        action=values.canary_action,
        target=target,
        promote=Rolling((target,)),
        create_stable=live_stable is None and values.canary_action == "start",
        stable_replicas=stable_replicas,
        others=tuple(m for m in objects if m is not stable),
        steps=tuple(steps),
        promote_after=specs[-1].weight == 100,
        step_pause=float(values.step_pause),
        removes=tuple(removes),
        analysis=checks,
        resume_at=_resume_at(values.canary_action, state, len(steps)),
        route_restore=canary_objects.route_weights(route, values.service, 0) if route and required else None,
    )


def _step_plan(
    values: Values,
    spec: StepSpec,
    stable: Obj,
    stable_replicas: int,
    service: Obj | None,
    ingress: Obj | None,
    route: Obj | None,
    before: list[CanaryStep],
) -> CanaryStep:
    routed = ingress is not None or route is not None
    if routed:
        replicas, effective = canary_objects.canary_replicas(spec.weight, stable_replicas), float(spec.weight)
    else:
        _check_replicas(values, spec.weight, stable_replicas, before[-1] if before else None)
        replicas = ratio_replicas(spec.weight, stable_replicas)
        effective = effective_weight(replicas, stable_replicas)
        _check_rounding(values, spec.weight, replicas, stable_replicas, effective)
    return CanaryStep(
        spec.weight,
        replicas,
        canary_objects.canary_deployment(stable, replicas),
        canary_objects.canary_service(service) if routed and service else None,
        canary_objects.canary_ingress(ingress, spec.weight, values.service) if ingress else None,
        route=canary_objects.route_weights(route, values.service, spec.weight) if route else None,
        pause=spec.pause,
        interval=spec.interval,
        effective=effective,
    )


def _setting(values: Values) -> str:
    return STEPS if values.canary_steps else "PLUGIN_CANARY_WEIGHT"


def _check_replicas(values: Values, weight: int, stable: int, before: CanaryStep | None) -> None:
    """Without a traffic router the weight is a replica ratio: each step must add canary pods."""
    if stable == 0:
        raise SettingsError(
            _setting(values), f"{weight}% cannot be given by replicas: the stable deployment has 0 replicas"
        )
    replicas = ratio_replicas(weight, stable)
    if before is not None and replicas <= before.replicas:
        raise SettingsError(
            _setting(values),
            f"{weight}% gives {replicas} canary pod(s) beside {stable} stable, no more than {before.weight}% did",
        )


def _check_rounding(values: Values, weight: int, replicas: int, stable: int, effective: float) -> None:
    off = abs(effective - weight)
    if off > values.max_weight_error and not values.allow_replica_rounding:
        raise SettingsError(
            _setting(values),
            f"asked {weight}%, replicas give {effective:.0f}% ({replicas} canary pod(s) beside {stable} stable), "
            f"off by more than max_weight_error ({values.max_weight_error} points): use canary_route or "
            "canary_ingress for an exact split, or set allow_replica_rounding: true",
        )


def _resume_at(action: str, state: dict[str, Any] | None, planned: int) -> int:
    """The step a `promote` continues from: the one after a canary paused until promoted (else 0: promote now)."""
    if action != "promote" or not state or state.get("status") != "paused":
        return 0
    step = state.get("step")
    return step if isinstance(step, int) and 0 < step < planned else 0
