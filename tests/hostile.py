"""Hypothesis strategies for hostile setting values, generated from the plugins' declarations.

For every declared setting: random text (any Unicode, control characters), huge values, numbers Python would
take but a CI setting must not ("٣", "1_0", "1e23"), out-of-range values, wrong JSON shapes, near-misses of the
setting's own format, and valid values (so combinations mix good and bad). Used by the fast unit property test
and by the integration property test that runs each plugin as a process against the stack.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from plugins.chaos_kill.chaostoolkit import read_experiment
from plugins.chaos_kill.plan import build_plan as chaos_plan
from plugins.deployment_verify.__main__ import published
from plugins.deployment_verify.plan import build_plan as verify_plan
from plugins.docker_publish_tagger.plan import make_plan
from plugins.docker_publish_tagger.preflight import check_sources
from plugins.kubectl_helm_deploy.inputs import prepare
from shared.auth import SecretDir, kube_access, registry_auth
from shared.ci import context_from_env
from shared.docs import declaration_of
from shared.log import Log
from shared.preflight import check_outputs
from shared.settings import Declaration, Setting, Values

NUMBERS = ["٣", "١٢", "１", "1_0", "0x10", "1e23", "-1", "-0", "+", "", " 1 ", "9" * 30, "9223372036854775808",
           "-9223372036854775809", "nan", "inf", "-inf", "1e999", ".", "1.", "3.5", "0", "1", "100"]  # fmt: skip
DURATIONS = ["5x", "-5s", "1h1h", "9" * 400 + "h", "99999h", "1d", "٣s", "0", "30s", "5m", "250ms", "1h30m"]
SHAPES = ['{"a":1}', '{"a":{"b":[1]}}', "[1,[2]]", "[]", "{}", "null", "[null]", '"s"', '[{"a":1}]', "[" * 500,
          '{"a":', "[1e999]", '{"":"x"}', '{"X-A":"a\\r\\nb"}', "a=1,b", "=", ",,,", "a=b=c"]  # fmt: skip
HUGE_SIZES = st.sampled_from([256, 4097, 100_000])
# Valid examples per format, mutated into near-misses (one character off, too long, upper case).
EXAMPLES = {
    "image": "127.0.0.1:5000/team/app:v1",
    "repository": "127.0.0.1:5000/team/app",
    "registry": "127.0.0.1:5000",
    "namespace": "shop",
    "deployment": "web",
    "workload": "statefulset/db",
    "ingress": "web",
    "route": "web",
    "service": "web",
    "container": "app",
    "release": "web",
    "label_selector": "app=web",
    "pod_field_selector": "spec.nodeName=n1",
    "label": "shipline.io/chaos=enabled",
    "http_url": "http://127.0.0.1:9/health",
    "chart_repo_url": "https://charts.example.com",
    "docker_host": "tcp://127.0.0.1:9",
    "buildkit_addr": "tcp://127.0.0.1:9",
    "regex": "ok|ready",
    "header_name": "X-Request-Id",
    "header_value": "v",
    "values_key": "image.tag",
    "env_name": "GIT_TOKEN",
    "tag": "v1",
    "tag_prefix": "v",
    "tag_suffix": "-x",
    "stage": "runtime",
    "network": "host",
    "platform": "linux/amd64",
    "int_or_percent": "25%",
    "helm_set": "a=1",
    "version": "1.2.3",
    "manifest_entry": "app/*.yaml",
    "path": "values.yaml",
}


def _near_misses(example: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(example.upper()),
        st.just(example * 300),
        st.sampled_from(" \t\n\x00\x1b\u200b/:@,=()!-.é٣").map(lambda c: example + c),
        st.sampled_from(" \t\n\x00\x1b\u200b/:@,=()!-.é٣").map(lambda c: c + example),
    )


def _valid(s: Setting) -> st.SearchStrategy[str]:
    if s.choices:
        return st.sampled_from(s.choices)
    if s.type == "bool":
        return st.sampled_from(["true", "false", "yes", "off"])
    if s.type == "int":
        low = int(s.minimum) if s.minimum is not None else -5
        return st.integers(low, int(s.maximum) if s.maximum is not None else low + 50).map(str)
    if s.type == "float":
        low = s.minimum if s.minimum is not None else 0.0
        high = s.maximum if s.maximum is not None else low + 100
        return st.floats(low, high, allow_nan=False).map(repr)
    if s.type == "duration":
        return st.sampled_from(["1s", "2s", "250ms"])
    return st.just(EXAMPLES.get(s.format, "x"))


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
JSON_VALUES = st.recursive(
    _SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3)
).map(json.dumps)
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(codec="ascii"), max_size=20),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Nd"]), min_size=1, max_size=8),
    HUGE_SIZES.flatmap(lambda n: st.sampled_from(["a", "9", "-", "é"]).map(lambda c: c * n)),
    st.sampled_from(NUMBERS),
    st.sampled_from(SHAPES),
    JSON_VALUES,
)


def hostile_value(s: Setting) -> st.SearchStrategy[str]:
    """Values for `s`: mostly wrong in some way, sometimes right."""
    parts: list[st.SearchStrategy[str]] = [TEXT, _valid(s)]
    if s.type == "duration":
        parts.append(st.sampled_from(DURATIONS))
    if s.format:
        parts.append(_near_misses(EXAMPLES[s.format]))
    return st.one_of(parts)


def hostile_env(declaration: Declaration, exclude: frozenset[str] = frozenset()) -> st.SearchStrategy[dict[str, Any]]:
    """PLUGIN_* overrides for 1-4 of the declaration's settings at once (each alone and in combination)."""
    # Each setting's strategy is built once: building strategies costs far more than drawing from them.
    values = {s.env: hostile_value(s) for s in declaration.settings if s.name not in exclude}
    names = st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=4, unique=True)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, str]:
        return {env: draw(values[env]) for env in draw(names)}

    return build()


def _publish(values: Values, cwd: Path) -> None:
    plan = make_plan(values, context_from_env(os.environ), os.environ, datetime.now(UTC))
    check_sources(plan.build)
    registry_auth(values, plan.destination.registry)


class _EmptyNamespace:
    """The live objects a strategy reads: none (these tests have no cluster)."""

    def get(self, api_version: str, kind: str, name: str) -> None:
        return None


def _deploy(values: Values, cwd: Path) -> None:
    with SecretDir() as secrets:
        access = kube_access(values, secrets, Log())
        prepare(values, values.namespace or access.namespace or "default", _EmptyNamespace, os.environ, cwd)


def _verify(values: Values, cwd: Path) -> None:
    handoff = published(values)
    with SecretDir() as secrets:
        verify_plan(values, handoff, kube_access(values, secrets, Log()).namespace)


def _chaos(values: Values, cwd: Path) -> None:
    experiment = read_experiment(values.chaostoolkit_experiment) if values.chaostoolkit_experiment else None
    chaos_plan(values, experiment)
    with SecretDir() as secrets:
        kube_access(values, secrets, Log())


# Everything each plugin does before its first side effect: the runner's preflight of output files, then the steps
# its __main__ runs in this order, with the environment and working directory of the process (os.environ, cwd).
_STEPS: dict[str, Callable[[Values, Path], None]] = {
    "docker_publish_tagger": _publish,
    "kubectl_helm_deploy": _deploy,
    "deployment_verify": _verify,
    "chaos_kill": _chaos,
}


def _with_preflight(plugin: str, step: Callable[[Values, Path], None]) -> Callable[[Values, Path], None]:
    def run(values: Values, cwd: Path) -> None:
        check_outputs(declaration_of(plugin).outputs(values))
        step(values, cwd)

    return run


PREPARE = {plugin: _with_preflight(plugin, step) for plugin, step in _STEPS.items()}
