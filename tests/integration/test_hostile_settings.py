"""Property, against the stack: a setting the plugin refuses changes nothing. Each plugin runs as its own process
(`python -m plugins.<plugin>`, the images' entry point) with a valid dry-run configuration, then with hostile values
in one to four of its declared settings (tests/hostile.py, generated from the declarations). For every hostile
configuration the plugin's own parse/plan layer refuses, the process must exit 2 with one line naming the same
setting, print no traceback and no secret, and leave the cluster and the registry as they were: the
resourceVersion of every object in the namespace, the cluster's namespaces, the registry's repositories and tags,
and the engine's images of the test repository.

Configurations the plugin accepts are not run here: they may name things that do not exist (a Deployment, a
build target), and exit 1 is then the truth. The unit flavour checks that every generated configuration is
either accepted or refused with one line (tests/unit/test_hostile_settings.py).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import docker
import pytest
from hypothesis import HealthCheck, assume, given, settings
from kubernetes import client

from shared.docs import PLUGINS, declaration_of
from shared.errors import SettingsError
from tests.hostile import PREPARE, hostile_env

from .stacklib import DRONE_CI, WEB_MANIFEST, Namespace, Registry, cluster_state, registry_state, run_plugin_process
from .test_chaos_kill import deployment

# Hostile values are up to 100,000 characters; Hypothesis warns that printing them is expensive.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")
EXAMPLES = 10  # per plugin: each is a process start (a few seconds on a busy machine)
ENV_STRING_MAX = 128 * 1024  # Linux's MAX_ARG_STRLEN: no runner can hand a process a longer variable


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    (tmp_path / "a.txt").write_text(f"{uuid.uuid4()}\n")
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "deployment.yaml").write_text(WEB_MANIFEST)
    monkeypatch.chdir(tmp_path)  # the local refusal check resolves paths as the process does
    return tmp_path


def baseline(plugin: str, stack: dict[str, str], ns: Namespace, registry: Registry, repo: str) -> dict[str, str]:
    """A valid dry-run configuration of `plugin` against the stack, as Drone would hand it over."""
    access = {**ns.access_env(), "PLUGIN_DRY_RUN": "true"}
    return {
        "docker_publish_tagger": {
            **DRONE_CI,
            "DOCKER_HOST": stack["DOCKER_HOST"],
            "PLUGIN_REPO": repo,
            "PLUGIN_USERNAME": registry.username,
            "PLUGIN_PASSWORD": registry.password,
            "PLUGIN_DRY_RUN": "true",
        },
        "kubectl_helm_deploy": {**DRONE_CI, **access, "PLUGIN_MANIFESTS": "k8s", "PLUGIN_IMAGE": f"{repo}:v1"},
        "deployment_verify": {**DRONE_CI, **access, "PLUGIN_DEPLOYMENTS": "web"},
        "chaos_kill": {**DRONE_CI, **access, "PLUGIN_LABEL_SELECTOR": "app=web"},
    }[plugin]


def refusal(plugin: str, env: dict[str, str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> SettingsError | None:
    """What the plugin's parse/plan layer says about `env`, computed here with the process's environment."""
    for name in [n for n in os.environ if n.startswith(("PLUGIN_", "DRONE", "CI_", "DOCKER_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        PREPARE[plugin](declaration_of(plugin).load(env), cwd)
    except SettingsError as e:
        return e
    return None


@pytest.mark.parametrize("plugin", PLUGINS)
def test_refused_settings_change_nothing(
    plugin: str,
    stack: dict[str, str],
    kube_admin: client.ApiClient,
    namespace: Namespace,
    registry: Registry,
    docker_client: docker.DockerClient,
    scratch_repo: str,
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment(kube_admin, namespace.name, "web", 2)
    good = baseline(plugin, stack, namespace, registry, scratch_repo)

    def state() -> dict[str, Any]:
        images = sorted(i.id for i in docker_client.images.list(name=scratch_repo))
        return {
            "cluster": cluster_state(kube_admin, namespace.name),
            "registry": registry_state(registry, [scratch_repo]),
            "images": images,
        }

    # The baseline is valid, and its dry run changes nothing in the cluster or the registry.
    assert refusal(plugin, good, workspace, monkeypatch) is None
    done = run_plugin_process(plugin, good, workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    before = state()  # after the dry run: a dry-run build tags its image locally
    secrets = [good[k] for k in ("PLUGIN_KUBERNETES_TOKEN", "PLUGIN_PASSWORD") if k in good]
    tried: list[dict[str, str]] = []

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    @given(hostile_env(declaration_of(plugin)))
    def property_(overrides: dict[str, str]) -> None:
        # What an environment can carry at all: no NUL, no variable past MAX_ARG_STRLEN.
        overrides = {k: v.replace("\x00", "") for k, v in overrides.items()}
        assume(all(len(f"{k}={v}".encode()) < ENV_STRING_MAX for k, v in overrides.items()))
        env = {**good, **overrides}
        expected = refusal(plugin, env, workspace, monkeypatch)
        assume(expected is not None)
        assert expected is not None
        tried.append(overrides)
        done = run_plugin_process(plugin, env, workspace)
        out = done.stdout + done.stderr
        lines = out.strip().splitlines()
        assert done.returncode == 2, out[-3000:]
        assert "Traceback" not in out and lines, out[-3000:]
        assert lines[-1].startswith(f"xx {declaration_of(plugin).plugin}: {expected.setting}: "), lines[-1][:500]
        assert not any(secret in out for secret in secrets), "a secret reached the output"
        assert state() == before, f"something changed after {sorted(overrides)}"

    property_()
    assert len(tried) >= EXAMPLES // 2, f"only {len(tried)} refused configurations were tried"
