"""The Helm release with pyhelm3: a release stuck in a pending state is recovered first, then upgrade --install
and our own fail-fast rollout wait of the release's Deployments; a failed upgrade is rolled back with
`helm rollback` (a failed first install is uninstalled).

helm reads the cluster credentials from the kubeconfig FILE of `shared.auth.kube_access` (the token stays in
its own 0600 file): pyhelm3 logs its command lines, so nothing secret may ever be in them.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import types
from pathlib import Path
from typing import Any

import pyhelm3
import pyhelm3.command
from pyhelm3 import errors as helm_errors

from plugins.kubectl_helm_deploy.execution import Execution
from plugins.kubectl_helm_deploy.plan import HelmRelease
from shared.errors import PluginError, RolloutFailed, SettingsError
from shared.rollout import KINDS

PENDING = ("pending-install", "pending-upgrade", "pending-rollback", "uninstalling")


def run_helm(deploy: Execution, helm: HelmRelease, kubeconfig: Path) -> None:
    exec_without_shell(pyhelm3.command)
    asyncio.run(_run(deploy, helm, kubeconfig))


def exec_without_shell(module: types.ModuleType) -> None:
    """pyhelm3 runs helm as `/bin/sh -c <shlex.join(argv)>`, and the images have no shell: its module gets an
    asyncio and a subprocess whose shell calls execute shlex.split(command) — the same argv — directly."""
    if getattr(module, "_shipline_exec", False):
        return

    async def create_subprocess_shell(command: str, **kwargs: Any) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(*shlex.split(command), **kwargs)

    def run(command: Any, *args: Any, shell: bool = False, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(shlex.split(command) if shell else command, *args, **kwargs)

    vars(module).update(
        asyncio=types.SimpleNamespace(**{**vars(asyncio), "create_subprocess_shell": create_subprocess_shell}),
        subprocess=types.SimpleNamespace(**{**vars(subprocess), "run": run}),
        _shipline_exec=True,
    )


def _failure(action: str, error: helm_errors.Error) -> PluginError:
    text = error.stderr.decode(errors="replace").strip()
    lines = [ln.removeprefix("Error: ").strip() for ln in text.splitlines() if ln.strip()]
    return PluginError(f"helm {action} failed: {lines[-1] if lines else f'exit {error.returncode}'}")


async def _run(deploy: Execution, helm: HelmRelease, kubeconfig: Path) -> None:
    plan, options, log = deploy.plan, deploy.options, deploy.log
    timeout = f"{int(options.timeout)}s"
    command = pyhelm3.command.Command(kubeconfig=kubeconfig, executable=helm.helm_bin, default_timeout=timeout)
    client = pyhelm3.Client(command, executable=helm.helm_bin)
    ns = plan.namespace
    try:
        chart = await client.get_chart(
            Path(helm.chart) if helm.local else helm.chart, repo=helm.repo_url or None, version=helm.version or None
        )
    except helm_errors.Error as e:
        raise SettingsError("PLUGIN_CHART", str(_failure("show chart", e)).removeprefix("helm ")) from None
    log.heading(f"Release {helm.release}: chart {chart.metadata.name} {chart.metadata.version}")
    try:
        previous = await _proceedable(deploy, client, helm.release, timeout)
        if options.dry_run:
            rev = await client.install_or_upgrade_release(
                helm.release, chart, helm.values, namespace=ns, dry_run=True, create_namespace=helm.create_namespace
            )
            for obj in await rev.resources():
                if obj:
                    log.info(f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} would be applied")
            return
        rev = await client.install_or_upgrade_release(
            helm.release,
            chart,
            helm.values,
            atomic=helm.atomic,
            create_namespace=helm.create_namespace,
            namespace=ns,
            timeout=timeout,
            wait=helm.atomic,
        )
    except helm_errors.Error as e:
        raise _failure("upgrade --install", e) from None
    log.info(f"release {helm.release}: revision {rev.revision} {rev.status.value}")
    deploy.record.revisions[helm.release] = str(rev.revision)
    if not options.wait:
        return
    workloads = [(r["kind"], r["metadata"]["name"]) for r in await rev.resources() if r and r.get("kind") in KINDS]
    workloads.sort(key=lambda w: KINDS.index(w[0]))  # Deployments first, as in manifests mode
    try:
        for kind, name in workloads:
            log.heading(f"Wait for the rollout of {kind.lower()} {name}")
            deploy.wait(name, kind)
        if helm.test:
            await _test(deploy, command, helm.release, timeout)
    except RolloutFailed as failure:
        if not options.rollback_on_failure:
            raise
        raise await _roll_back(deploy, client, rev, previous, workloads, failure) from None


async def _test(deploy: Execution, command: pyhelm3.command.Command, release: str, timeout: str) -> None:
    """`helm test --logs` through pyhelm3's command runner (the same kubeconfig file, no shell); the test pods'
    logs are shown either way, and a failed test is a failed rollout."""
    deploy.log.heading(f"helm test {release}")
    argv = ["test", release, "--namespace", deploy.plan.namespace, "--logs", "--timeout", timeout]
    try:
        out = await command.run(argv)
    except helm_errors.Error as e:
        _show(deploy, e.stdout.decode(errors="replace"))
        raise RolloutFailed(str(_failure("test", e))) from None
    _show(deploy, out.decode(errors="replace"))
    deploy.record.notes.append(f"helm test {release} passed")


def _show(deploy: Execution, output: str) -> None:
    for line in output.splitlines():
        if line.strip():
            deploy.log.info(f"    {line}")


async def _proceedable(deploy: Execution, client: pyhelm3.Client, release: str, timeout: str) -> Any:
    """The release's current revision, after recovering one stuck in a pending state (None: not installed)."""
    try:
        current = await client.get_current_revision(release, namespace=deploy.plan.namespace)
    except helm_errors.ReleaseNotFoundError:
        deploy.log.info(f"release {release} is not installed yet: install")
        return None
    if current.status.value in PENDING:
        deploy.log.warn(
            f"release {release} is stuck in {current.status.value} (revision {current.revision}, an earlier run "
            "was interrupted): recovering it first"
        )
        if deploy.options.dry_run:
            return current
        recovered = await client.get_proceedable_revision(release, namespace=deploy.plan.namespace, timeout=timeout)
        deploy.log.info(
            "recovered: " + (f"revision {recovered.revision} {recovered.status.value}" if recovered else "uninstalled")
        )
        return recovered
    deploy.log.info(f"release {release}: revision {current.revision} {current.status.value}; upgrade")
    return current


async def _roll_back(
    deploy: Execution,
    client: pyhelm3.Client,
    rev: Any,
    previous: Any,
    workloads: list[tuple[str, str]],
    failure: RolloutFailed,
) -> PluginError:
    release = rev.release
    if previous is None:
        deploy.log.heading(f"Uninstall release {release.name} (its first install failed)")
        await client.uninstall_release(release.name, namespace=release.namespace, wait=True)
        return RolloutFailed(f"{failure}; release {release.name} uninstalled (it had no earlier revision)")
    deploy.log.heading(f"helm rollback {release.name} {previous.revision}")
    try:
        back = await release.rollback(previous.revision, wait=False, timeout=f"{int(deploy.options.timeout)}s")
        for kind, name in workloads:
            deploy.wait(name, kind, stable=False)
    except helm_errors.Error as e:
        return PluginError(f"{failure}; {_failure('rollback', e)}")
    except PluginError as e:
        return RolloutFailed(f"{failure}; the rollback did not roll out either: {e}")
    deploy.record.revisions[release.name] = str(back.revision)
    images = json.dumps(deploy.record.serving, sort_keys=True)
    return RolloutFailed(
        f"{failure}; release {release.name} rolled back to revision {previous.revision} "
        f"(now revision {back.revision}): {images}"
    )
