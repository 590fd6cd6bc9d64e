"""The publish plan from settings + CI context: a table of good plans, a table of bad inputs (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugins.docker_publish_tagger.__main__ import main
from plugins.docker_publish_tagger.preflight import check_sources
from shared.errors import SettingsError
from tests.harness import Harness

from .planning import BK, CI, REPO, SHA, plan_for

GOOD = [
    pytest.param(
        {"PLUGIN_REPO": "127.0.0.1:5000/team/app"},
        {"destination.registry": "127.0.0.1:5000", "destination.path": "team/app", "tags": ("0123456789ab-42",)},
        id="defaults",
    ),
    pytest.param(
        {"PLUGIN_REPO": "team/app", "PLUGIN_REGISTRY": "https://reg.example.com:5000/"},
        {"destination.repo": "reg.example.com:5000/team/app", "destination.api_host": "reg.example.com:5000"},
        id="registry-prefixes-repo",
    ),
    pytest.param(
        {"PLUGIN_REPO": "team/app"},
        {"destination.registry": "docker.io", "destination.api_host": "registry-1.docker.io"},
        id="docker-hub",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_REGISTRY": "r.io", "PLUGIN_INSECURE": "true"},
        {"destination.insecure": True, "destination.repo": "r.io/a"},
        id="registry-same-as-repo",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_CONTEXT": "app"},
        {"build.context": Path("app"), "build.dockerfile": Path("app/Dockerfile")},
        id="dockerfile-in-context",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_CONTEXT": "app", "PLUGIN_DOCKERFILE": "docker/Dockerfile.prod"},
        {"build.dockerfile": Path("docker/Dockerfile.prod")},
        id="dockerfile-from-workdir",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_BUILD_ARGS": "A=1,B=2", "PLUGIN_BUILD_ARGS_FROM_ENV": "TOKEN"},
        {"build.build_args": {"A": "1", "B": "2", "TOKEN": "s3cret"}, "build.secret_args": ("TOKEN",)},
        id="build-args",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_BUILD_ARGS": '{"URL": "a,b"}'},
        {"build.build_args": {"URL": "a,b"}},
        id="build-args-json",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_TARGET": "runtime", "PLUGIN_NO_CACHE": "yes", "PLUGIN_NETWORK": "host"},
        {"build.target": "runtime", "build.no_cache": True, "build.network": "host"},
        id="build-options",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_DRY_RUN": "true"},
        {"push": False},
        id="dry-run",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_BUILD_NUMBER": "7", "PLUGIN_COMMIT_SHA": "f" * 40},
        {"tags": ("ffffffffffff-7",), "ctx.build_number": "7"},
        id="ci-overrides",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_TAG_STRATEGIES": "build_id,git_sha", "PLUGIN_SHA_LENGTH": "8"},
        {"tags": ("42", "01234567")},
        id="strategies",
    ),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_OUTPUT_FILE": "out/p.json", "PLUGIN_TAGS_FILE": "out/tags"},
        {"output_file": Path("out/p.json"), "tags_file": Path("out/tags")},
        id="output-files",
    ),
]


@pytest.mark.parametrize(("settings", "expected"), GOOD)
def test_make_plan(settings: dict[str, str], expected: dict[str, object]) -> None:
    plan = plan_for(settings, {"TOKEN": "s3cret"})
    for dotted, want in expected.items():
        value: object = plan
        for part in dotted.split("."):
            value = getattr(value, part)
        assert value == want, dotted


def test_labels_auto_and_own() -> None:
    plan = plan_for({"PLUGIN_REPO": "r.io/a", "PLUGIN_LABELS": "team=web,org.opencontainers.image.url=https://x"})
    assert plan.build.labels == {
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": "https://git.example.com/team/app",
        "org.opencontainers.image.url": "https://x",
        "org.opencontainers.image.version": "0123456789ab-42",
        "team": "web",
    }
    tagged = plan_for({"PLUGIN_REPO": "r.io/a"}, {"DRONE_TAG": "v2.1.0"})
    assert tagged.build.labels["org.opencontainers.image.version"] == "2.1.0"
    assert plan_for({"PLUGIN_REPO": "r.io/a", "PLUGIN_AUTO_LABELS": "false"}).build.labels == {}


def test_describe_hides_build_args_from_env() -> None:
    plan = plan_for(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_BUILD_ARGS": "A=1", "PLUGIN_BUILD_ARGS_FROM_ENV": "TOKEN"},
        {"TOKEN": "s3cret"},
    )
    text = "\n".join(plan.describe())
    assert "s3cret" not in text
    assert "TOKEN=******" in text and "A=1" in text
    assert "push        r.io/a:0123456789ab-42" in text


BAD = [
    pytest.param({}, "PLUGIN_REPO", "is required", id="no-repo"),
    pytest.param({"PLUGIN_REPO": "r.io/Team/App"}, "PLUGIN_REPO", "lower case", id="repo-upper"),
    pytest.param({"PLUGIN_REPO": "r.io/a:1.0"}, "PLUGIN_REPO", "carries a tag", id="repo-with-tag"),
    pytest.param(
        {**REPO, "PLUGIN_REGISTRY": "other.io"},
        "PLUGIN_REGISTRY",
        "is not the registry",
        id="registry-mismatch",
    ),
    pytest.param({**REPO, "PLUGIN_SHA_LENGTH": "6"}, "PLUGIN_SHA_LENGTH", "minimum 7", id="sha-short"),
    pytest.param(
        {**REPO, "PLUGIN_BUILD_ARGS_FROM_ENV": "NOPE"},
        "PLUGIN_BUILD_ARGS_FROM_ENV",
        "NOPE is not set",
        id="arg-env-missing",
    ),
    pytest.param(
        {**REPO, "PLUGIN_BUILD_ARGS": "A=1", "PLUGIN_BUILD_ARGS_FROM_ENV": "A"},
        "PLUGIN_BUILD_ARGS_FROM_ENV",
        "also set",
        id="arg-twice",
    ),
    pytest.param({**REPO, "PLUGIN_BUILD_ARGS": "A"}, "PLUGIN_BUILD_ARGS", "not key=value", id="arg-not-kv"),
    pytest.param({**REPO, "PLUGIN_PUSH_RETRIES": "-1"}, "PLUGIN_PUSH_RETRIES", "minimum", id="retries-negative"),
    pytest.param({**REPO, "PLUGIN_LATEST": "maybe"}, "PLUGIN_LATEST", "not a boolean", id="bad-bool"),
    pytest.param({**REPO, "PLUGIN_TAGS": "ok,not ok"}, "PLUGIN_TAGS", '"not ok"', id="bad-tag"),
    pytest.param({**REPO, "DRONE_TAG": "nightly"}, "DRONE_TAG", "not a semantic version", id="tag-not-semver"),
    # DRONE=true with an empty build number: still Drone, and the default tag needs the number.
    pytest.param(
        {**REPO, "DRONE": "true", "DRONE_BUILD_NUMBER": ""},
        "DRONE_BUILD_NUMBER",
        "is not set",
        id="no-build-number",
    ),
    # builder: buildkit
    pytest.param(
        {**BK, "PLUGIN_PLATFORMS": "linux/amd64,linux/sparc"},
        "PLUGIN_PLATFORMS",
        "not a known platform",
        id="unknown-platform",
    ),
    pytest.param({**BK, "PLUGIN_SECRETS": "npm"}, "PLUGIN_SECRETS", "is not id=ENV_NAME", id="secret-malformed"),
    pytest.param({**BK, "PLUGIN_SECRETS": "npm=UNSET_VAR"}, "PLUGIN_SECRETS", "UNSET_VAR", id="secret-env-unset"),
    pytest.param({**BK, "PLUGIN_SECRETS": "npm=file:/no/such"}, "PLUGIN_SECRETS", "does not exist", id="secret-file"),
    pytest.param({**BK, "PLUGIN_SECRETS": "a=X,a=X", "X": "1"}, "PLUGIN_SECRETS", "twice", id="secret-twice"),
    pytest.param({**BK, "PLUGIN_CACHE_TO": "type=ftp,ref=x"}, "PLUGIN_CACHE_TO", 'cache type "ftp"', id="cache-type"),
    pytest.param({**BK, "PLUGIN_CACHE_FROM": "type=registry"}, "PLUGIN_CACHE_FROM", "needs ref", id="cache-no-ref"),
    pytest.param({**BK, "PLUGIN_BUILDKIT_ADDR": ""}, "PLUGIN_BUILDKIT_ADDR", "is required", id="no-addr"),
    pytest.param({**BK, "PLUGIN_BUILDKIT_CERT": "x"}, "PLUGIN_BUILDKIT_KEY", "is required", id="cert-no-key"),
    pytest.param(
        {**BK, "PLUGIN_BUILD_ARGS_FROM_ENV": "X", "X": "1"}, "PLUGIN_BUILD_ARGS_FROM_ENV", "`secrets`", id="args-env"
    ),
    pytest.param(
        {**REPO, "PLUGIN_SECRETS": "a=X", "X": "1"},
        "PLUGIN_SECRETS",
        "builder: buildkit",
        id="classic-secrets",
    ),
    pytest.param(
        {**REPO, "PLUGIN_PLATFORMS": "linux/amd64,linux/arm64"},
        "PLUGIN_PLATFORMS",
        "builder: buildkit",
        id="classic-multi-platform",
    ),
    pytest.param({**BK, "PLUGIN_REGISTRY_CA": "not a cert"}, "PLUGIN_REGISTRY_CA", "neither a PEM", id="bad-ca"),
    pytest.param(
        {**BK, "PLUGIN_PLATFORM": "linux/amd64", "PLUGIN_PLATFORMS": "linux/arm64"},
        "PLUGIN_PLATFORMS",
        "not both",
        id="platform-and-platforms",
    ),
]


@pytest.mark.parametrize(("settings", "setting", "problem"), BAD)
def test_bad_input(settings: dict[str, str], setting: str, problem: str) -> None:
    with pytest.raises(SettingsError) as e:
        plan_for(settings)
    assert e.value.setting == setting
    assert problem in str(e.value)


@pytest.mark.parametrize(
    ("layout", "settings", "setting"),
    [
        pytest.param({}, {"PLUGIN_CONTEXT": "missing"}, "PLUGIN_CONTEXT", id="no-context"),
        pytest.param({"app/x": ""}, {"PLUGIN_CONTEXT": "app"}, "PLUGIN_DOCKERFILE", id="no-dockerfile-in-context"),
        pytest.param({"Dockerfile": ""}, {"PLUGIN_DOCKERFILE": "Dockerfile.prod"}, "PLUGIN_DOCKERFILE", id="no-file"),
    ],
)
def test_check_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: dict[str, str], settings: dict[str, str], setting: str
) -> None:
    for name, content in layout.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(content)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as e:
        check_sources(plan_for({"PLUGIN_REPO": "r.io/a", **settings}).build)
    assert e.value.setting == setting


def test_check_sources_accepts_existing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    check_sources(plan_for({"PLUGIN_REPO": "r.io/a", "PLUGIN_CONTEXT": "app"}).build)


MAIN_BAD = [
    pytest.param({"PLUGIN_REPO": "r.io/a", "PLUGIN_TAGS": "bad tag!"}, "PLUGIN_TAGS", id="bad-tag"),
    pytest.param({"PLUGIN_REPO": "r.io/a", "PLUGIN_DOCKERFILE": "nope"}, "PLUGIN_DOCKERFILE", id="no-dockerfile"),
    pytest.param({"PLUGIN_REPO": "r.io/a", "PLUGIN_USERNAME": "u"}, "PLUGIN_PASSWORD", id="user-no-password"),
    pytest.param(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_DOCKER_CONFIG": "not json", "PLUGIN_PASSWORD": ""},
        "PLUGIN_DOCKER_CONFIG",
        id="bad-docker-config",
    ),
    pytest.param({"PLUGIN_REPO": "r.io/a", "PLUGIN_SEMVER_STRICT": "sure"}, "PLUGIN_SEMVER_STRICT", id="bad-bool"),
]


@pytest.mark.parametrize(("settings", "setting"), MAIN_BAD)
def test_main_bad_input_exits_2_before_docker(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], setting: str
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    monkeypatch.chdir(tmp_path)
    # Nothing answers at DOCKER_HOST: exit 2 must come first.
    run = harness.run(main, **{"DOCKER_HOST": "tcp://127.0.0.1:1", **CI, **settings})
    assert run.code == 2, run.out
    assert f"docker-publish-tagger: {setting}: " in run.last
