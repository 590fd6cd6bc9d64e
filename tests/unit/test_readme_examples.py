"""The Drone and Woodpecker examples the READMEs show first (each plugin's, and so the top README's, which is
generated from them) are steps of the project's own pipelines: the steps tests/integration/test_runners.py runs
with `drone exec` and `woodpecker-cli exec`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.docs import PLUGINS, _first_block, _section, render

ROOT = Path(__file__).resolve().parents[2]
STEP = {"docker_publish_tagger": "publish", "kubectl_helm_deploy": "deploy", "deployment_verify": "verify",
        "chaos_kill": "chaos"}  # fmt: skip


def pipeline_step(pipeline: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the step, its pipeline document) from the project's pipeline file."""
    for doc in yaml.safe_load_all((ROOT / pipeline).read_text()):
        for step in (doc or {}).get("steps", []):
            if step["name"] == name:
                return step, doc
    raise AssertionError(f"{pipeline} has no step {name}")


def example(plugin: str, heading: str) -> dict[str, Any]:
    block = _first_block(_section(render(plugin), heading))
    assert block, f"{plugin} README has no example under ## {heading}"
    return yaml.safe_load(block.split("\n", 1)[1].rsplit("```", 1)[0])  # type: ignore[no-any-return]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_drone_example_is_the_pipeline_step(plugin: str) -> None:
    step, doc = pipeline_step(".drone.yml", STEP[plugin])
    shown = example(plugin, "Drone")
    assert shown["steps"] == [step]
    assert shown.get("volumes", []) == (doc["volumes"] if "volumes" in step else [])


@pytest.mark.parametrize("plugin", PLUGINS)
def test_woodpecker_example_is_the_pipeline_step(plugin: str) -> None:
    step, _ = pipeline_step(".woodpecker.yml", STEP[plugin])
    assert example(plugin, "Woodpecker") == {"steps": [step]}
