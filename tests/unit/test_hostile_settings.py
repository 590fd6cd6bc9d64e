"""Property: whatever lands in any declared setting of any plugin — alone or combined with others — the parse and
plan layer either accepts it or refuses it with one line naming a setting (exit 2). Nothing else escapes: no
other exception, which the runner would turn into exit 1 or 3 after side effects may have started.

Fast by design (no network, no Docker, no cluster): the `ci` profile is derandomized with a fixed example count,
so CI runs the same cases every time; HYPOTHESIS_PROFILE=thorough runs many more with fresh randomness.
The integration flavour (tests/integration/test_hostile_settings.py) runs the plugins as processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.docs import PLUGINS, declaration_of
from shared.errors import SettingsError
from shared.settings import Declaration
from tests.hostile import PREPARE, hostile_env

# Hostile values are up to 100,000 characters; Hypothesis warns that printing them is expensive.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
settings.register_profile(
    "ci", max_examples=500, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.register_profile("thorough", max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ACCESS = {"PLUGIN_KUBERNETES_SERVER": "http://127.0.0.1:9", "PLUGIN_KUBERNETES_TOKEN": "t0ken"}
# A valid configuration per plugin, relative to the workspace built below; the property overrides parts of it.
BASELINE: dict[str, dict[str, str]] = {
    "docker_publish_tagger": {
        "PLUGIN_REPO": "127.0.0.1:5000/team/app",
        "PLUGIN_COMMIT_SHA": "c0ffee0" * 6,
        "PLUGIN_BUILD_NUMBER": "7",
    },
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
