"""docker-publish-tagger's settings, declared once."""

from __future__ import annotations

from pathlib import Path

from shared.auth import REGISTRY_ACCESS
from shared.ci import CI_SETTINGS
from shared.errors import SettingsError
from shared.handoff import DEFAULT_PUBLISH_FILE
from shared.settings import Declaration, Setting, Values, combine

BUILDERS = ("classic", "buildkit")
STRATEGIES = ("build_id", "system_build_id", "git_sha", "git_sha_build_id", "semver", "branch")

IMAGE: tuple[Setting, ...] = (
    Setting(
        "repo",
        required=True,
        doc="Image repository to push to, e.g. registry.example.com:5000/team/app",
        format="repository",
    ),
    Setting("registry", default="", doc="Registry host[:port] (default: taken from repo)", format="registry"),
    Setting("insecure", "bool", False, "The registry speaks plain HTTP (loopback registries need no setting; warns)"),
    Setting(
        "registry_ca",
        "text",
        doc="CA certificate (PEM or base64) of a registry with a private CA: trusted for the registry checks "
        "(the pushing engine or BuildKit daemon must trust it too)",
    ),
    Setting(
        "push_retries",
        "int",
        3,
        "Retries of a push after a transient error (5xx, timeout, reset)",
        minimum=0,
        maximum=10,
    ),
    Setting(
        "docker_host",
        default="unix:///var/run/docker.sock",
        doc="Docker engine to build and push with, e.g. tcp://docker:2375 for docker-in-docker",
        fallback=("DOCKER_HOST",),
        format="docker_host",
    ),
)

BUILD: tuple[Setting, ...] = (
    Setting(
        "dockerfile",
        "path",
        Path("Dockerfile"),
        "Dockerfile, relative to the working directory (unset: the Dockerfile in context)",
    ),
    Setting("context", "path", Path("."), "Build context directory"),
    Setting("target", default="", doc="Multi-stage target to build (default: the last stage)", format="stage"),
    Setting("build_args", "map", {}, "Build arguments (map, or list of key=value)", key_format="env_name"),
    Setting(
        "build_args_from_env",
        "list",
        [],
        "Names of environment variables passed as build args (values masked)",
        format="env_name",
    ),
    Setting("labels", "map", {}, "Extra image labels (map, or list of key=value)"),
    Setting("auto_labels", "bool", True, "Add OCI labels: created, revision, source, url, version"),
    Setting(
        "cache_from",
        "list",
        [],
        "Build cache sources: images, or BuildKit cache specs (type=registry,ref=...); classic: images only",
    ),
    Setting("cache_to", "list", [], "BuildKit cache exports, e.g. type=registry,ref=reg/app:cache,mode=max"),
    Setting("no_cache", "bool", False, "Build without the layer cache"),
    Setting("pull", "bool", False, "Always pull newer base images"),
    Setting("network", default="", doc="Network for RUN steps, e.g. host", format="network"),
    Setting("platform", default="", doc="Target platform, e.g. linux/amd64", format="platform"),
)

BUILDKIT: tuple[Setting, ...] = (
    Setting("builder", default="classic", doc="classic (the Docker engine's builder) or buildkit", choices=BUILDERS),
    Setting(
        "buildkit_addr",
        doc="BuildKit daemon for builder buildkit: tcp://host:1234 (mutual TLS with the three below) or "
        "unix:///run/buildkit/buildkitd.sock",
        fallback=("BUILDKIT_HOST",),
        format="buildkit_addr",
    ),
    Setting("buildkit_ca", "text", secret=True, doc="CA certificate of the BuildKit daemon (PEM or base64)"),
    Setting("buildkit_cert", "text", secret=True, doc="Client certificate for the BuildKit daemon (PEM or base64)"),
    Setting("buildkit_key", "text", secret=True, doc="Client key for the BuildKit daemon (PEM or base64)"),
    Setting(
        "secrets",
        "list",
        [],
        "Build secrets (BuildKit) for RUN --mount=type=secret,id=ID: ID=ENV_NAME or ID=file:path; "
        "kept out of every layer, the config and the logs",
    ),
    Setting(
        "platforms",
        "list",
        [],
        "Platforms of a multi-platform image (BuildKit), e.g. linux/amd64,linux/arm64",
        format="platform",
    ),
    Setting("provenance", "bool", True, "Attach BuildKit's provenance attestation (mode=min)"),
    Setting("sbom", "bool", False, "Attach an SBOM attestation (BuildKit; the daemon must reach its scanner image)"),
)

TAGS: tuple[Setting, ...] = (
    Setting(
        "tag_strategies",
        "list",
        [],
        "Tags to derive (default: git_sha_build_id, plus semver on a git tag)",
        choices=STRATEGIES,
    ),
    Setting("sha_length", "int", 12, "Characters of the commit SHA in git_sha tags", minimum=7, maximum=40),
    Setting("semver_strict", "bool", True, "A git tag that is not semver is an error (false: use it sanitised)"),
    Setting("tags", "list", [], "Extra tags, used as written", format="tag"),
    Setting("tag_prefix", default="", doc="Prepended to every derived tag (and latest)", format="tag_prefix"),
    Setting("tag_suffix", default="", doc="Appended to every derived tag (and latest)", format="tag_suffix"),
    Setting("latest", "bool", False, "Also push `latest` (mutable: warns)"),
)

OUTPUT: tuple[Setting, ...] = (
    Setting("dry_run", "bool", False, "Build and tag locally, print the plan, push nothing"),
    Setting(
        "output_file",
        "path",
        DEFAULT_PUBLISH_FILE,
        "Handoff JSON for later steps (repo, tags, digest, image)",
        output=True,
    ),
    Setting(
        "tags_file",
        "path",
        Path(".tags"),
        "File the pushed tags are written to, comma-joined (Drone convention)",
        output=True,
    ),
)


def _check_build_args(values: Values) -> None:
    overlap = set(values.build_args) & set(values.build_args_from_env)
    if overlap:
        raise SettingsError(
            "PLUGIN_BUILD_ARGS_FROM_ENV", f"{', '.join(sorted(overlap))} is also set in build_args; set it once"
        )


DECLARATION = Declaration(
    "docker-publish-tagger",
    combine(IMAGE, REGISTRY_ACCESS, BUILD, BUILDKIT, TAGS, OUTPUT, CI_SETTINGS),
    checks=(_check_build_args,),
)
