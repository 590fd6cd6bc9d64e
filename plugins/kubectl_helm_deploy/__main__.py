"""kubectl-helm-deploy: apply manifests (server-side) or upgrade a Helm release — rolling, blue/green or
canary — and roll back on failure. Configured by PLUGIN_* settings; see README.md."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from plugins.kubectl_helm_deploy.settings import DECLARATION
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Values

if TYPE_CHECKING:
    from plugins.kubectl_helm_deploy.execution import Execution

README = Path(__file__).with_name("README.md")


def run(execution: Execution, kubeconfig: Path) -> None:
    """The plan's strategy, executed."""
    from plugins.kubectl_helm_deploy.blue_green import run_blue_green
    from plugins.kubectl_helm_deploy.canary import run_canary
    from plugins.kubectl_helm_deploy.helm import run_helm
    from plugins.kubectl_helm_deploy.plan import BlueGreen, Canary, HelmRelease
    from plugins.kubectl_helm_deploy.rolling import run_rolling

    steps = execution.plan.steps
    if isinstance(steps, HelmRelease):
        run_helm(execution, steps, kubeconfig)
    elif isinstance(steps, BlueGreen):
        run_blue_green(execution, steps)
    elif isinstance(steps, Canary):
        run_canary(execution, steps)
    else:
        run_rolling(execution, steps)


def execute(values: Values, log: Log) -> int:
    # The clients load only once the settings are valid: a settings error exits before they are imported.
    import functools
    import os

    from plugins.kubectl_helm_deploy.apply import Applier
    from plugins.kubectl_helm_deploy.execution import Execution, Record, summarize, write_report
    from plugins.kubectl_helm_deploy.helm import lint
    from plugins.kubectl_helm_deploy.inputs import prepare
    from plugins.kubectl_helm_deploy.plan import HelmRelease
    from shared.auth import SecretDir, kube_access
    from shared.errors import ShiplineError
    from shared.kube import Cluster

    with SecretDir() as secrets:
        access = kube_access(values, secrets, log)
        namespace = values.namespace or access.namespace or "default"
        with Cluster.connect(access) as cluster:
            applier = functools.cache(lambda: Applier(cluster, namespace))
            plan = prepare(values, namespace, applier, os.environ, Path.cwd())
            log.heading("Plan" + (" (dry run: nothing will change)" if values.dry_run else ""))
            for line in plan.describe():
                log.info(line)
            record = Record()
            try:
                if isinstance(plan.steps, HelmRelease):
                    lint(plan.steps, secrets, log)
                run(Execution(cluster, applier(), plan, log, record), access.kubeconfig)
            except ShiplineError as e:
                write_report(values.report_file, plan, record, "failed", str(e))
                raise
            write_report(values.report_file, plan, record, "dry run" if values.dry_run else "deployed", "")
            summarize(record, log)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
