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
    from plugins.kubectl_helm_deploy.execution import Execution, Record
    from plugins.kubectl_helm_deploy.plan import Plan
    from shared.auth import SecretDir
    from shared.prometheus import Prometheus

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
            record = Record()
            plan: Plan | None = None  # None in the report when an input error stops the plan being built
            prometheus: Prometheus | None = None
            try:
                plan = prepare(values, namespace, applier, os.environ, Path.cwd())
                log.heading("Plan" + (" (dry run: nothing will change)" if values.dry_run else ""))
                for line in plan.describe():
                    log.info(line)
                prometheus = analysis_client(values, plan, secrets)
                if isinstance(plan.steps, HelmRelease):
                    lint(plan.steps, secrets, log)
                run(Execution(cluster, applier(), plan, log, record, prometheus), access.kubeconfig)
            except ShiplineError as e:
                write_report(values.report_file, plan, record, "failed", str(e))
                raise
            finally:
                write_junit(values, record)
                if prometheus is not None:
                    prometheus.close()
            write_report(values.report_file, plan, record, "dry run" if values.dry_run else "deployed", "")
            summarize(record, log)
    return 0


def analysis_client(values: Values, plan: Plan, secrets: SecretDir) -> Prometheus | None:
    """A Prometheus client when this run analyses, after every query passed Prometheus' parser (else exit 2)."""
    from plugins.kubectl_helm_deploy.canary_objects import canary_name
    from plugins.kubectl_helm_deploy.plan import Canary
    from shared.analysis_run import Target, connect

    steps = plan.steps
    if not isinstance(steps, Canary) or not steps.analysis or steps.action == "abort":
        return None
    if steps.action == "promote" and not steps.resume_at:
        return None
    target = Target(plan.namespace, canary_name(steps.target), steps.target, float(values.analysis_interval))
    return connect(values, secrets, steps.analysis, target)


def write_junit(values: Values, record: Record) -> None:
    if values.junit_file and record.analysis:
        from shared.report import write_junit as write

        write(values.junit_file, "kubectl-helm-deploy", [m.as_report() for m in record.analysis])


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
