"""The two halves of a run: `prepare` (validate everything, build the plan — no cluster call) and `execute`
(lint, apply, roll out, roll back), with the report written whatever happens."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from plugins.kubectl_helm_deploy import manifests
from plugins.kubectl_helm_deploy.apply import Applier
from plugins.kubectl_helm_deploy.blue_green import run_blue_green
from plugins.kubectl_helm_deploy.canary import run_canary
from plugins.kubectl_helm_deploy.helm import check_helm, lint, run_helm
from plugins.kubectl_helm_deploy.plan import Plan, build_helm_plan, build_plan, resolve_image
from plugins.kubectl_helm_deploy.rolling import Deploy, run_rolling
from shared.auth import KubeAccess, SecretDir, kube_access
from shared.errors import SettingsError, ShiplineError
from shared.kube import api_client
from shared.log import Log
from shared.settings import Values

STRATEGIES = {"rolling": run_rolling, "blue-green": run_blue_green, "canary": run_canary}


def prepare(values: Values, access: KubeAccess, env: Mapping[str, str], cwd: Path) -> Plan:
    """The whole plan from settings, manifests and the handoff file: every input error is raised here."""
    namespace = values.namespace or access.namespace or "default"
    image, source = resolve_image(values, cwd)
    if values.chart:
        check_helm(values.helm_bin)
        files = {}
        for name in values.values_files:
            path = cwd / name
            if not path.is_file():
                raise SettingsError("PLUGIN_VALUES_FILES", f'"{name}" does not exist')
            files[name] = path.read_text()
        return build_helm_plan(values, image, source, namespace, files, cwd)
    return build_plan(values, manifests.load(values.manifests, env, cwd), image, source, namespace)


def execute(values: Values, log: Log) -> int:
    cwd = Path.cwd()
    with SecretDir() as secrets:
        access = kube_access(values, secrets, log)
        plan = prepare(values, access, os.environ, cwd)
        log.heading("Plan" + (" (dry run: nothing will change)" if values.dry_run else ""))
        for line in plan.describe():
            log.info(line)
        api = api_client(access)
        deploy = Deploy(api, None, log, values, plan)  # type: ignore[arg-type]  # the applier comes next
        try:
            if plan.helm:
                lint(deploy, plan.helm, values.helm_bin, secrets)
            deploy.applier = Applier(
                api, plan.namespace, force_conflicts=values.force_conflicts, cache_file=secrets.path / "discovery.json"
            )
            if plan.helm:
                run_helm(deploy, access, values.helm_bin)
            else:
                STRATEGIES[plan.strategy](deploy)
        except ShiplineError as e:
            write_report(values.report_file, deploy, "failed", str(e))
            raise
        write_report(values.report_file, deploy, "dry run" if values.dry_run else "deployed", "")
        summarize(deploy)
    return 0


def summarize(deploy: Deploy) -> None:
    log = deploy.log
    log.heading("Summary")
    if deploy.outcomes:
        log.table(("object", "result"), [(f"{o.kind}/{o.name}", o.action) for o in deploy.outcomes])
    for name, revision in deploy.revisions.items():
        log.info(f"{name}: revision {revision}")
    for name, images in deploy.serving.items():
        for container, image in images.items():
            log.info(f"{name}[{container}] serves {image}")
    for note in deploy.notes:
        log.info(note)


def write_report(path: Path, deploy: Deploy, result: str, error: str) -> None:
    plan = deploy.plan
    body = {
        "plugin": "kubectl-helm-deploy",
        "result": result,
        "error": error,
        "mode": plan.mode,
        "strategy": plan.strategy,
        "namespace": plan.namespace,
        "image": plan.image,
        "objects": [{"kind": o.kind, "name": o.name, "action": o.action} for o in deploy.outcomes],
        "revisions": deploy.revisions,
        "serving": deploy.serving,
        "notes": deploy.notes,
        "release": plan.helm.release if plan.helm else "",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
