"""The project's own pipelines (.drone.yml, .woodpecker.yml): valid for their system, and every plugin step's
settings are settings the plugin declares, with values its declaration accepts, secrets only via from_secret."""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Declaration

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ("docker-publish-tagger", "kubectl-helm-deploy", "deployment-verify", "chaos-kill")
# The seed's flow: publish -> deploy -> verify -> rolling upgrade -> chaos -> verify (test runs first).
FLOW = (
    "docker-publish-tagger",
    "kubectl-helm-deploy",
    "deployment-verify",
    "kubectl-helm-deploy",
    "chaos-kill",
    "deployment-verify",
)
SECRETS = {
    "registry_username",
    "registry_password",
    "kubernetes_server",
    "kubernetes_cert",
    "kubernetes_token",
    "kubernetes_token_verify",
    "kubernetes_token_chaos",
}
# A secret's value as the declaration must accept it, where its format needs more than a placeholder.
SECRET_EXAMPLES = {"kubernetes_server": "https://kubernetes.example:6443"}
DRONE_WHEN = {"branch", "event", "ref", "repo", "instance", "status", "target", "cron", "action", "paths"}
WOODPECKER_WHEN = {"repo", "event", "branch", "cron", "ref", "status", "platform", "matrix", "instance", "path",
                   "evaluate", "environment"}  # fmt: skip


def load(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((ROOT / name).read_text()) if doc is not None]


def drone_steps() -> list[dict[str, Any]]:
    return [step for doc in load(".drone.yml") for step in doc["steps"]]


def woodpecker_steps() -> list[dict[str, Any]]:
    steps = load(".woodpecker.yml")[0]["steps"]
    # Woodpecker accepts a map of name -> step as well as a list of steps with names.
    return [{"name": k, **v} for k, v in steps.items()] if isinstance(steps, dict) else steps


STEPS = {".drone.yml": drone_steps, ".woodpecker.yml": woodpecker_steps}


def plugin_of(image: str) -> str | None:
    """The shipline plugin an image runs (`shipline/<plugin>:<tag>`), or None for any other image."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    owner, _, name = repo.rpartition("/")
    return name if owner.endswith("shipline") and name in PLUGINS else None


def declaration(plugin: str) -> Declaration:
    module = importlib.import_module(f"plugins.{plugin.replace('-', '_')}.settings")
    return module.DECLARATION


def plugin_steps() -> list[Any]:
    return [
        pytest.param(name, step, id=f"{name}:{step['name']}")
        for name, steps in STEPS.items()
        for step in steps()
        if plugin_of(step["image"])
    ]


def encode(value: Any) -> str:
    """A setting's value as Drone and Woodpecker hand it to the plugin (PLUGIN_<NAME>)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ",".join(encode(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# Structure


def test_drone_pipeline_structure() -> None:
    docs = load(".drone.yml")
    assert docs, ".drone.yml is empty"
    volumes: set[str] = set()
    for doc in docs:
        assert doc["kind"] == "pipeline" and doc["type"] == "docker" and doc["name"]
        assert isinstance(doc["steps"], list) and doc["steps"]
        volumes |= {v["name"] for v in doc.get("volumes", [])}
    names = [s["name"] for s in drone_steps()]
    assert len(names) == len(set(names)), f"duplicate step names: {names}"
    for step in drone_steps():
        assert isinstance(step.get("image"), str) and step["image"], step["name"]
        assert set(step.get("when", {})) <= DRONE_WHEN, step["name"]
        for mount in step.get("volumes", []):
            assert mount["name"] in volumes and mount["path"].startswith("/"), step["name"]


def test_woodpecker_pipeline_structure() -> None:
    (doc,) = load(".woodpecker.yml")
    assert "kind" not in doc and "type" not in doc, "Drone keys in a Woodpecker pipeline"
    assert "pipeline" not in doc, "`pipeline:` was replaced by `steps:` in Woodpecker 2"
    steps = woodpecker_steps()
    names = [s["name"] for s in steps]
    assert len(names) == len(set(names)), f"duplicate step names: {names}"
    for when in doc.get("when", []):
        assert set(when) <= WOODPECKER_WHEN
    for step in steps:
        assert isinstance(step.get("image"), str) and step["image"], step["name"]
        assert "secrets" not in step, f"{step['name']}: `secrets:` is gone in Woodpecker 3; use from_secret"
        whens = step.get("when", [])
        for when in whens if isinstance(whens, list) else [whens]:
            assert set(when) <= WOODPECKER_WHEN, step["name"]
        for mount in step.get("volumes", []):
            assert isinstance(mount, str) and mount.count(":") >= 1, step["name"]


@pytest.mark.parametrize("name", STEPS)
def test_runs_the_seed_flow(name: str) -> None:
    steps = STEPS[name]()
    assert steps[0]["name"] == "test" and "commands" in steps[0], "tests run before anything is built"
    # The always-run steps (not the failure handler) carry the seed's flow in order.
    plugins = [plugin_of(s["image"]) for s in steps if not _on_failure(s)]
    assert tuple(p for p in plugins if p) == FLOW


@pytest.mark.parametrize("name", STEPS)
def test_plugin_images_are_this_version(name: str) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for step in STEPS[name]():
        if plugin_of(step["image"]):
            assert step["image"].endswith(f":{version}"), f"{step['name']}: {step['image']} is not :{version}"


def test_both_pipelines_run_the_same_plugin_steps() -> None:
    def key(steps: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return [(s["name"], s["image"], json.dumps(s.get("settings"), sort_keys=True)) for s in steps]

    assert key(drone_steps()) == key(woodpecker_steps())


# ---------------------------------------------------------------------------------------------------------------
# Settings against the declarations


@pytest.mark.parametrize(("pipeline", "step"), plugin_steps())
def test_every_setting_is_declared(pipeline: str, step: dict[str, Any]) -> None:
    plugin = plugin_of(step["image"])
    assert plugin
    declared = declaration(plugin).names()
    unknown = sorted(set(step.get("settings", {})) - declared)
    assert not unknown, f"{pipeline} step {step['name']}: {plugin} declares no setting {unknown}"


@pytest.mark.parametrize(("pipeline", "step"), plugin_steps())
def test_secrets_come_from_secrets(pipeline: str, step: dict[str, Any]) -> None:
    plugin = plugin_of(step["image"])
    assert plugin
    secret = {s.name for s in declaration(plugin).settings if s.secret}
    for name, value in step.get("settings", {}).items():
        if isinstance(value, dict) and "from_secret" in value:
            assert set(value) == {"from_secret"} and value["from_secret"] in SECRETS, f"{step['name']}.{name}"
        else:
            assert name not in secret, f"{pipeline} step {step['name']}: secret setting {name} written in plain text"


@pytest.mark.parametrize(("pipeline", "step"), plugin_steps())
def test_settings_values_are_accepted(pipeline: str, step: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The step's settings, encoded as the CI system hands them over, pass the plugin's own validation."""
    plugin = plugin_of(step["image"])
    assert plugin
    decl = declaration(plugin)
    by_name = {s.name: s for s in decl.settings}
    environ = {}
    for name, value in step.get("settings", {}).items():
        if name not in by_name:
            pytest.fail(f"{step['name']}: undeclared setting {name}")
        if isinstance(value, dict) and "from_secret" in value:
            value = SECRET_EXAMPLES.get(value["from_secret"], "from-secret-" + value["from_secret"])
        environ[by_name[name].env] = encode(value)
    monkeypatch.chdir(ROOT)  # relative paths (manifests, dockerfile) are the repository's
    decl.load(environ)


def _on_failure(step: dict[str, Any]) -> bool:
    whens = step.get("when", [])
    for when in whens if isinstance(whens, list) else [whens]:
        status = when.get("status", [])
        if "failure" in (status if isinstance(status, list) else [status]):
            return True
    return False
