"""Property: whatever lands in any declared setting of any plugin — alone or combined with others — the parse and
plan layer either accepts it or refuses it with one line naming a setting (exit 2). Nothing else escapes: no
other exception, which the runner would turn into exit 1 or 3 after side effects may have started.

Fast by design (no network, no Docker, no cluster): the `ci` profile is derandomized with a fixed example count,
so CI runs the same cases every time; HYPOTHESIS_PROFILE=thorough runs many more with fresh randomness.
The integration flavour (tests/integration/test_hostile_settings.py) runs the plugins as processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugins.chaos_kill.chaostoolkit import read_experiment
from plugins.chaos_kill.plan import build_plan as chaos_plan
from plugins.deployment_verify.__main__ import published
from plugins.deployment_verify.plan import build_plan as verify_plan
from plugins.docker_publish_tagger.build import check_sources
from plugins.docker_publish_tagger.plan import make_plan
from plugins.kubectl_helm_deploy.steps import prepare
from shared.auth import SecretDir, kube_access, registry_auth
from shared.ci import CIContext
from shared.docs import PLUGINS, declaration_of
from shared.errors import SettingsError
from shared.log import Log
from shared.settings import Declaration, Values
from tests.hostile import hostile_env

settings.register_profile(
    "ci", max_examples=300, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile("thorough", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ACCESS = {"PLUGIN_KUBERNETES_SERVER": "http://127.0.0.1:9", "PLUGIN_KUBERNETES_TOKEN": "t0ken"}
# A valid configuration per plugin, relative to the workspace built below; the property overrides parts of it.
BASELINE: dict[str, dict[str, str]] = {
    "docker_publish_tagger": {"PLUGIN_REPO": "127.0.0.1:5000/team/app", "PLUGIN_COMMIT_SHA": "c0ffee0" * 6},
    "kubectl_helm_deploy": {"PLUGIN_MANIFESTS": "k8s", "PLUGIN_IMAGE": "127.0.0.1:5000/team/app:v1", **ACCESS},
    "deployment_verify": {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_URLS": "http://127.0.0.1:9/", **ACCESS},
    "chaos_kill": {"PLUGIN_NAMESPACE": "shop", "PLUGIN_LABEL_SELECTOR": "app=web", **ACCESS},
}
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: 127.0.0.1:5000/team/app:v0}]}
"""


def _publish(values: Values, cwd: Path) -> None:
    plan = make_plan(values, CIContext(build_number="7", commit_sha="c0ffee0" * 6), os.environ, datetime.now(UTC))
    check_sources(plan.build)
    registry_auth(values, plan.destination.registry)


def _deploy(values: Values, cwd: Path) -> None:
    with SecretDir() as secrets:
        prepare(values, kube_access(values, secrets, Log()), {}, cwd)


def _verify(values: Values, cwd: Path) -> None:
    handoff = published(values)
    with SecretDir() as secrets:
        verify_plan(values, handoff, kube_access(values, secrets, Log()).namespace)


def _chaos(values: Values, cwd: Path) -> None:
    experiment = read_experiment(values.chaostoolkit_experiment) if values.chaostoolkit_experiment else None
    chaos_plan(values, experiment)
    with SecretDir() as secrets:
        kube_access(values, secrets, Log())


# Everything each plugin does before its first side effect (its __main__ runs the same steps in this order).
PREPARE: dict[str, Callable[[Values, Path], None]] = {
    "docker_publish_tagger": _publish,
    "kubectl_helm_deploy": _deploy,
    "deployment_verify": _verify,
    "chaos_kill": _chaos,
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("workspace")
    (root / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (root / "k8s").mkdir()
    (root / "k8s" / "deployment.yaml").write_text(DEPLOYMENT)
    cwd = Path.cwd()
    os.chdir(root)  # the plugins resolve relative paths against the working directory, as in a CI step
    try:
        yield root
    finally:
        os.chdir(cwd)


def test_every_plugin_is_covered() -> None:
    assert set(BASELINE) == set(PREPARE) == set(PLUGINS)


def test_baselines_are_valid(workspace: Path) -> None:
    for plugin, env in BASELINE.items():
        PREPARE[plugin](declaration_of(plugin).load(env), workspace)


HOSTILE = {plugin: hostile_env(declaration_of(plugin)) for plugin in PLUGINS}


def check(plugin: str, overrides: Mapping[str, str], workspace: Path) -> None:
    declaration: Declaration = declaration_of(plugin)
    env: dict[str, Any] = {**BASELINE[plugin], **overrides}
    try:
        PREPARE[plugin](declaration.load(env), workspace)
    except SettingsError as e:
        message = str(e)
        assert message.startswith("PLUGIN_") and "\n" not in message, message
        assert len(message) < 1200, f"{len(message)} characters: {message[:200]}"


@pytest.mark.parametrize("plugin", PLUGINS)
def test_hostile_values_are_accepted_or_refused_with_one_line(plugin: str, workspace: Path) -> None:
    @given(HOSTILE[plugin])
    def property_(overrides: dict[str, str]) -> None:
        check(plugin, overrides, workspace)

    property_()


@pytest.mark.parametrize("plugin", PLUGINS)
@settings(max_examples=60)
@given(data=st.data())
def test_hostile_values_on_top_of_one_another(plugin: str, workspace: Path, data: st.DataObject) -> None:
    # Two rounds of overrides: a value that is refused early must not hide a crash in a later setting's check.
    first = data.draw(HOSTILE[plugin])
    second = data.draw(HOSTILE[plugin])
    check(plugin, {**first, **second}, workspace)
