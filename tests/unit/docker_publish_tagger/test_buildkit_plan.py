"""builder: buildkit in the plan (pure): secrets, cache specs, platforms, the buildctl command line, the progress
reader, and every bad input refused (exit 2) before anything runs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from plugins.docker_publish_tagger.buildkit import ClientFiles, Progress, build_argv, check_builder, explain_failure
from plugins.docker_publish_tagger.buildkit_publish import index_platforms
from plugins.docker_publish_tagger.buildkit_specs import group_cache_specs
from shared.errors import PluginError
from shared.log import Log

from .planning import BK, plan_for

FILES = ClientFiles(Path("/s/docker"), Path("/s/ca.pem"), Path("/s/cert.pem"), Path("/s/key.pem"), Path("/s/md.json"))


def test_drone_split_cache_specs_are_regrouped() -> None:
    items = ["type=registry", "ref=r.io/a:cache", "mode=max", "r.io/a:old", "type=local", "src=/c"]
    assert group_cache_specs(items) == ["type=registry,ref=r.io/a:cache,mode=max", "r.io/a:old", "type=local,src=/c"]


def test_buildkit_plan_and_its_command_line_hold_no_secret(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-secret")
    settings = {
        **BK,
        "PLUGIN_SECRETS": f"npm=NPM_TOKEN,key=file:{tmp_path / 'key'}",
        "PLUGIN_CACHE_FROM": "type=registry,ref=r.io/a:cache",
        "PLUGIN_CACHE_TO": "type=registry,ref=r.io/a:cache,mode=max",
        "PLUGIN_PLATFORMS": "linux/amd64,linux/arm64",
        "PLUGIN_TAGS": "t2",
        "PLUGIN_AUTO_LABELS": "false",
    }
    plan = plan_for(settings, {"NPM_TOKEN": "tok-123"})
    assert [s.describe() for s in plan.build.secrets] == ["npm from $NPM_TOKEN", f"key from file {tmp_path / 'key'}"]
    argv = build_argv(plan, FILES)
    assert "tok-123" not in " ".join(argv) and "file-secret" not in " ".join(argv)
    pairs = list(zip(argv, argv[1:], strict=False))
    assert ("--secret", "id=npm,env=NPM_TOKEN") in pairs
    assert ("--secret", f"id=key,src={tmp_path / 'key'}") in pairs
    assert ("--tlscert", "/s/cert.pem") in pairs and ("--addr", "tcp://bk:1234") in pairs
    assert ("--import-cache", "type=registry,ref=r.io/a:cache") in pairs
    assert ("--export-cache", "type=registry,ref=r.io/a:cache,mode=max") in pairs
    assert ("--opt", "platform=linux/amd64,linux/arm64") in pairs
    assert ("--opt", "attest:provenance=mode=min") in pairs
    # several names in one CSV field: quoted
    assert ("--output", 'type=image,"name=r.io/a:0123456789ab-42,r.io/a:t2",push=true') in pairs


@pytest.mark.parametrize(
    ("settings", "present", "absent"),
    [
        pytest.param({}, ["attest:provenance=mode=min"], ["attest:sbom="], id="defaults"),
        pytest.param(
            {"PLUGIN_PROVENANCE": "false", "PLUGIN_SBOM": "true"},
            ["attest:sbom="],
            ["attest:provenance=mode=min"],
            id="sbom-only",
        ),
        pytest.param(
            {"PLUGIN_INSECURE": "true"},
            ["type=image,name=r.io/a:0123456789ab-42,push=true,registry.insecure=true"],
            [],
            id="insecure",
        ),
    ],
)
def test_attestations_and_insecure_in_the_command_line(
    settings: dict[str, str], present: list[str], absent: list[str]
) -> None:
    argv = build_argv(plan_for({**BK, **settings}), FILES)
    assert all(a in argv for a in present) and not any(a in argv for a in absent)


def test_insecure_warns() -> None:
    assert any("plain HTTP" in w for w in plan_for({**BK, "PLUGIN_INSECURE": "true"}).warnings)


def test_classic_says_which_cache_specs_it_ignores() -> None:
    plan = plan_for(
        {"PLUGIN_REPO": "r.io/a", "PLUGIN_CACHE_FROM": "r.io/a:old,type=registry,ref=r.io/a:c", "PLUGIN_CACHE_TO": ""}
    )
    assert [c.image for c in plan.build.cache_from] == ["r.io/a:old"]
    assert any("builder classic ignores type=registry,ref=r.io/a:c" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("args", "warned"),
    [
        pytest.param("NPM_TOKEN=x", True, id="token-name"),
        pytest.param("DB_PASSWORD=x", True, id="password-name"),
        pytest.param("VERSION=not-the-password-42", True, id="value-is-a-masked-secret"),
        pytest.param("VERSION=1.2", False, id="plain"),
    ],
)
def test_secret_looking_build_args_warn(args: str, warned: bool) -> None:
    plan = plan_for(
        {
            "PLUGIN_REPO": "r.io/a",
            "PLUGIN_BUILD_ARGS": args,
            "PLUGIN_PASSWORD": "not-the-password-42",
            "PLUGIN_USERNAME": "u",
        }
    )
    assert any("looks like a secret" in w and "`secrets`" in w for w in plan.warnings) is warned


PLAIN = """\
#1 [internal] load build definition from Dockerfile
#1 DONE 0.0s
#4 [stage-0 1/2] COPY a.txt /a
#4 CACHED
#5 [stage-0 2/2] RUN --mount=type=secret,id=npm test -s /run/secrets/npm
#5 0.120 ok
#5 DONE 0.3s
#6 exporting to image
#6 DONE 0.1s
"""


def test_progress_counts_cached_dockerfile_steps() -> None:
    progress = Progress()
    for line in PLAIN.splitlines():
        progress.feed(line)
    assert progress.steps() == ["4", "5"] and progress.cached_steps() == ["4"]


@pytest.mark.parametrize(
    ("tail", "addr", "expected"),
    [
        pytest.param(["error: remote error: tls: bad certificate"], "tcp://b:1", "TLS handshake failed", id="tls"),
        pytest.param(["error: connection refused"], "tcp://b:1", "no BuildKit daemon answers", id="refused"),
        pytest.param(
            ["#5 ERROR: process did not complete", "error: failed to solve: process did not complete"],
            "tcp://b:1",
            "build failed: failed to solve",
            id="step",
        ),
    ],
)
def test_failures_name_their_cause(tail: list[str], addr: str, expected: str) -> None:
    assert expected in str(explain_failure(tail, addr))


def test_index_platforms_skip_attestations() -> None:
    index = {
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {
                "digest": "sha256:c",
                "platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
            },
        ]
    }
    assert index_platforms(index) == {"linux/amd64": "sha256:a", "linux/arm64/v8": "sha256:b"}


def test_a_hanging_buildctl_is_stopped_at_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "buildctl"  # a buildctl that never answers
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    with pytest.raises(PluginError, match="did not finish within 0s"):
        check_builder("unix:///run/buildkit/buildkitd.sock", FILES, Log(io.StringIO()), timeout=0.3)
