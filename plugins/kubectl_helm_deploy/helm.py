"""Helm mode: `helm lint` first (a failing lint is an input error, nothing deployed), then the release
(helm_release.py, with pyhelm3: loaded only in helm mode — pyhelm3 brings pydantic, slow to import).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import HelmRelease
from shared.auth import SecretDir
from shared.errors import CommandError, SettingsError
from shared.log import Log
from shared.proc import run


def check_helm(helm_bin: str) -> str:
    found = shutil.which(helm_bin)
    if not found:
        raise SettingsError("PLUGIN_HELM_BIN", f'"{helm_bin}" is not an executable helm')
    return found


def lint_argv(helm_bin: str, chart: str, values_file: Path) -> list[str]:
    return [helm_bin, "lint", chart, "--values", str(values_file)]


def lint(helm: HelmRelease, secrets: SecretDir, log: Log) -> None:
    """`helm lint` with the merged values; its failure is an input error (exit 2) before anything changes."""
    if not helm.lint:
        return
    if not helm.local:
        log.info("helm lint skipped: the chart is not a local path")
        return
    log.heading("helm lint")
    values_file = secrets.write("lint-values.yaml", yaml.safe_dump(helm.values))
    try:
        run(lint_argv(helm.helm_bin, helm.chart, values_file), log, timeout=120)
    except CommandError as e:
        problems = [ln.strip() for ln in str(e).splitlines() if "[ERROR]" in ln or "Error:" in ln]
        raise SettingsError("PLUGIN_CHART", "helm lint failed: " + ("; ".join(problems) or str(e))) from None
    log.info("lint passed")


def run_helm(deploy: Execution, helm: HelmRelease, kubeconfig: Path) -> None:
    from plugins.kubectl_helm_deploy import helm_release

    helm_release.run_helm(deploy, helm, kubeconfig)
