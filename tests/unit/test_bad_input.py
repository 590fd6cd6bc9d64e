"""Every declared setting's malformed value exits 2 with one line naming it, before anything is touched: the
cases come from the plugins' settings declarations, so a new setting gets its case without a new test."""

from __future__ import annotations

import pytest

from plugins.chaos_kill.__main__ import main as chaos_main
from plugins.chaos_kill.settings import DECLARATION as CHAOS
from plugins.deployment_verify.__main__ import main as verify_main
from plugins.deployment_verify.settings import DECLARATION as VERIFY
from plugins.docker_publish_tagger.__main__ import main as publish_main
from plugins.docker_publish_tagger.settings import DECLARATION as PUBLISH
from plugins.kubectl_helm_deploy.__main__ import main as deploy_main
from plugins.kubectl_helm_deploy.settings import DECLARATION as DEPLOY
from shared.settings import Declaration, Setting
from tests.harness import Harness, Main

# Each plugin with the least it needs to get past its required settings; nothing answers at these addresses, so
# a run that got past the settings would fail with 1, not 2.
PLUGINS: tuple[tuple[Declaration, Main, dict[str, str]], ...] = (
    (DEPLOY, deploy_main, {"manifests": "k8s", "kubernetes_server": "http://127.0.0.1:1", "kubernetes_token": "t"}),
    (VERIFY, verify_main, {"deployments": "web", "kubernetes_server": "http://127.0.0.1:1", "kubernetes_token": "t"}),
    (CHAOS, chaos_main, {"namespace": "shop", "label_selector": "app=web", "kubernetes_server": "http://127.0.0.1:1"}),
    (PUBLISH, publish_main, {"repo": "127.0.0.1:1/team/web", "DOCKER_HOST": "tcp://127.0.0.1:1"}),
)
MALFORMED = {
    "int": "twelve",
    "float": "fast",
    "bool": "maybe",
    "duration": "soon",
    "list": "[1,",
    "json_list": "[1,",
    "map": "{oops",
}


def malformed(setting: Setting) -> list[str]:
    """Values every parser of the setting's type refuses: a wrong shape, a choice not offered, out of range."""
    values = [MALFORMED[setting.type]] if setting.type in MALFORMED else []
    if setting.choices:
        values.append("no-such-choice")
    if setting.minimum is not None and setting.type in ("int", "float"):
        values.append(str(int(setting.minimum) - 1))
    if setting.maximum is not None and setting.type in ("int", "float"):
        values.append(str(int(setting.maximum) + 1))
    return values


CASES = [
    pytest.param(main, base, setting, value, id=f"{declaration.plugin}-{setting.name}-{value}")
    for declaration, main, base in PLUGINS
    for setting in declaration.settings
    for value in malformed(setting)
]


@pytest.mark.parametrize(("main", "base", "setting", "value"), CASES)
def test_malformed_value_exits_2_naming_the_setting(
    harness: Harness, main: Main, base: dict[str, str], setting: Setting, value: str
) -> None:
    run = harness.run(main, **{**base, setting.name: value})
    assert run.code == 2, run.out
    assert setting.env in run.last, run.last


def test_every_plugin_has_cases() -> None:
    assert {case.id.split("-", 1)[0] for case in CASES} >= {"kubectl", "deployment", "chaos", "docker"}
