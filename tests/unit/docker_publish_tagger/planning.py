"""Building a publish plan from settings as a CI step would, shared by the plan tests."""

from __future__ import annotations

from datetime import UTC, datetime

from plugins.docker_publish_tagger.plan import PublishPlan, make_plan
from plugins.docker_publish_tagger.settings import DECLARATION
from shared.ci import context_from_env

SHA = "0123456789abcdef0123456789abcdef01234567"
CI = {"DRONE_BUILD_NUMBER": "42", "DRONE_COMMIT_SHA": SHA, "DRONE_REPO_LINK": "https://git.example.com/team/app"}
REPO = {"PLUGIN_REPO": "r.io/a"}
BK = {**REPO, "PLUGIN_BUILDER": "buildkit", "PLUGIN_BUILDKIT_ADDR": "tcp://bk:1234"}
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def plan_for(settings: dict[str, str], env: dict[str, str] | None = None) -> PublishPlan:
    env = {**CI, **(env or {}), **settings}
    values = DECLARATION.load(env)
    return make_plan(values, context_from_env(env), env, NOW)
