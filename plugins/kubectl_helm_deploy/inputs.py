"""What the plan is built from besides the settings: the image (setting or handoff file), the manifests or
values files from the workspace, and the few live objects a strategy depends on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from plugins.kubectl_helm_deploy import manifests
from plugins.kubectl_helm_deploy.helm import check_helm
from plugins.kubectl_helm_deploy.helm_plan import build_helm_plan
from plugins.kubectl_helm_deploy.manifests_plan import build_plan, live_refs
from plugins.kubectl_helm_deploy.plan import Plan
from shared.errors import SettingsError
from shared.handoff import read_published
from shared.images import parse_image
from shared.settings import Values


def resolve_image(values: Values, cwd: Path) -> tuple[str, str]:
    """(image, where it came from): the image setting, else the handoff's repo@digest, else nothing.

    A missing default handoff file means "deploy the manifests as written"; a missing file the operator named
    is an input error.
    """
    if values.image:
        try:
            parse_image(values.image)
        except ValueError as e:
            raise SettingsError("PLUGIN_IMAGE", str(e)) from None
        return values.image, "image"
    path = values.publish_file if values.publish_file.is_absolute() else cwd / values.publish_file
    if not values.given("publish_file") and not path.exists():
        return "", ""
    published = read_published(path, "PLUGIN_PUBLISH_FILE")
    if not published.image:
        raise SettingsError("PLUGIN_PUBLISH_FILE", f'"{values.publish_file}" holds no image')
    return published.image, "publish_file"


def values_files(values: Values, cwd: Path) -> dict[str, str]:
    files = {}
    for name in values.values_files:
        path = cwd / name
        if not path.is_file():
            raise SettingsError("PLUGIN_VALUES_FILES", f'"{name}" does not exist')
        files[name] = path.read_text()
    return files


class LiveReader(Protocol):
    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None: ...


def prepare(
    values: Values, namespace: str, applier: Callable[..., LiveReader], env: Mapping[str, str], cwd: Path
) -> Plan:
    """The whole plan: every input error is raised here, before the first write. The cluster is read (through
    `applier()`) only when the strategy depends on live objects, after the workspace's inputs are checked."""
    image, source = resolve_image(values, cwd)
    if values.chart:
        check_helm(values.helm_bin)
        return build_helm_plan(values, image, source, namespace, values_files(values, cwd), cwd)
    loaded = manifests.load(values.manifests, env, cwd)
    live = {ref: applier().get(*ref) for ref in live_refs(values, loaded)}
    return build_plan(values, loaded, image, source, namespace, live)
