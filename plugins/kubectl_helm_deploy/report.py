"""The end of a run: the summary the operator reads and the JSON report (the plan, what was done, what serves)."""

from __future__ import annotations

import json
from pathlib import Path

from plugins.kubectl_helm_deploy.execution import Record
from plugins.kubectl_helm_deploy.plan import HelmRelease, Plan
from shared.log import Log


def summarize(record: Record, log: Log) -> None:
    log.heading("Summary")
    if record.outcomes:
        log.table(("object", "result"), [(f"{o.kind}/{o.name}", o.action) for o in record.outcomes])
    for name, revision in record.revisions.items():
        log.info(f"{name}: revision {revision}")
    for name, images in record.serving.items():
        for container, image in images.items():
            log.info(f"{name}[{container}] serves {image}")
    for note in record.notes:
        log.info(note)


def write_report(path: Path, plan: Plan, record: Record, result: str, error: str) -> None:
    body = {
        "plugin": "kubectl-helm-deploy",
        "result": result,
        "error": error,
        "mode": plan.mode,
        "strategy": plan.strategy,
        "namespace": plan.namespace,
        "image": plan.image,
        "plan": plan.describe(),
        "objects": [{"kind": o.kind, "name": o.name, "action": o.action} for o in record.outcomes],
        "revisions": record.revisions,
        "serving": record.serving,
        "notes": record.notes,
        "release": plan.steps.release if isinstance(plan.steps, HelmRelease) else "",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2) + "\n")
