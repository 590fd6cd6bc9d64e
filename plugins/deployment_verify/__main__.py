"""deployment-verify: prove a rollout is healthy (wiring only: settings -> plan -> checks -> report)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

from plugins.deployment_verify.settings import DECLARATION
from shared.handoff import Published, read_published
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Values

README = Path(__file__).resolve().parent / "README.md"


def published(values: Values) -> Published | None:
    """The handoff file, when expected_image is unset and the file exists (or was named explicitly)."""
    if values.expected_image or not (values.given("publish_file") or values.publish_file.is_file()):
        return None
    return read_published(values.publish_file, "PLUGIN_PUBLISH_FILE")


def execute(values: Values, log: Log) -> int:
    # The clients load only once the settings are valid: a settings error exits before they are imported.
    from plugins.deployment_verify.plan import build_plan
    from plugins.deployment_verify.steps import report, verify
    from shared.auth import SecretDir, kube_access
    from shared.kube import Cluster

    handoff = published(values)
    with SecretDir() as secrets:
        access = kube_access(values, secrets, log)
        plan = build_plan(values, handoff, access.namespace)
        log.mask(*plan.expectation.headers.values())
        log.mask(*(urlsplit(u).password for u in (*plan.urls, *values.as_dict().values()) if isinstance(u, str)))
        log.heading("Plan")
        for line in plan.describe():
            log.info(line)
        if values.dry_run:
            log.info("dry run: nothing was checked")
            return 0
        prometheus = None
        if plan.analysis:  # every query passes Prometheus' parser before anything is checked (else exit 2)
            from shared.analysis_run import Target, connect

            target = Target(plan.namespace, plan.workloads[0][1], plan.analysis_baseline, plan.analysis_interval)
            prometheus = connect(values, secrets, plan.analysis, target)
        try:
            with Cluster.connect(access) as cluster:
                report(plan, verify(cluster, plan, log, prometheus), log, DECLARATION.plugin)
        finally:
            if prometheus is not None:
                prometheus.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_plugin(DECLARATION, execute, argv, docs=README)


if __name__ == "__main__":
    sys.exit(main())
