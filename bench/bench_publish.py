"""Benchmark (not a test): docker-publish-tagger against the docker CLI doing the same, same run, same inputs.

Both build a small multi-stage FROM-scratch Dockerfile (nothing can be pulled on the stack), give it two tags,
log in to the stack's registry and push both tags. The docker CLI does it as
`docker build` + `docker tag` + `docker login --password-stdin` + `docker push` (x2).

1. cold-ish: new file content each repetition (new layers to build and upload).
2. warm: the content of the tool's last cold build again, with new tags (build cache hit, blobs already in the
   registry: only manifests are pushed).

Each tool has its own repository and its own content, so neither warms the cache for the other. The plugin's
automatic OCI labels are off (the `created` label would change every build, and the CLI adds none).
Never fails on timing: exits 1 only if a tool itself failed (or the stack is missing).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

from benchlib import REPETITIONS, Case, console_script, plugin_env, print_table, run, run_timed

DOCKERFILE = (Path(__file__).resolve().parents[1] / "tests/integration/fixtures/publish/Dockerfile").read_text()


def write_content(context: Path) -> None:
    """New file content: new layers."""
    (context / "a.txt").write_text(f"a {uuid.uuid4()}\n" * 64)
    (context / "b.txt").write_text(f"b {uuid.uuid4()}\n" * 64)


class Publisher:
    """One tool publishing from its own build context to its own repository."""

    def __init__(self, stack: dict[str, str], workdir: Path, label: str) -> None:
        self.stack = stack
        self.context = workdir / label
        self.context.mkdir()
        (self.context / "Dockerfile").write_text(DOCKERFILE)
        self.repo = f"{stack['REGISTRY']}/bench/publish-{label}-{uuid.uuid4().hex[:8]}"
        self.build = 0

    def tags(self) -> tuple[str, str]:
        """Two new tags: the build number and a 12-character commit sha (what the plugin derives from them)."""
        self.build += 1
        return str(self.build), uuid.uuid4().hex[:12]


class Shipline(Publisher):
    def publish(self) -> float:
        build, sha = self.tags()
        env = plugin_env(
            {
                "repo": self.repo,
                "username": self.stack["REGISTRY_USERNAME"],
                "password": self.stack["REGISTRY_PASSWORD"],
                "tag_strategies": "build_id,git_sha",
                "auto_labels": "false",
            },
            DOCKER_HOST=self.stack["DOCKER_HOST"],
            DRONE="true",
            DRONE_BUILD_NUMBER=build,
            DRONE_COMMIT_SHA=sha + "0" * 28,
            DRONE_COMMIT_BRANCH="main",
        )
        return run_timed([console_script("docker-publish-tagger")], env=env, cwd=self.context)


class DockerCli(Publisher):
    def __init__(self, stack: dict[str, str], workdir: Path, label: str) -> None:
        super().__init__(stack, workdir, label)
        # Its own client config: the login writes credentials there, not into ~/.docker.
        config_dir = workdir / "docker-config"
        config_dir.mkdir(mode=0o700)
        self.env = {
            **os.environ,
            "DOCKER_HOST": stack["DOCKER_HOST"],
            "DOCKER_CONFIG": str(config_dir),
            "DOCKER_BUILDKIT": "0",  # the engine's builder, as the plugin's API build uses
        }

    def publish(self) -> float:
        first, second = (f"{self.repo}:{tag}" for tag in self.tags())
        took = run_timed(["docker", "build", "-q", "-t", first, "."], env=self.env, cwd=self.context)
        took += run_timed(["docker", "tag", first, second], env=self.env)
        took += run_timed(
            ["docker", "login", "--username", self.stack["REGISTRY_USERNAME"], "--password-stdin"]
            + [self.stack["REGISTRY"]],
            env=self.env,
            stdin=self.stack["REGISTRY_PASSWORD"],
        )
        for ref in (first, second):
            took += run_timed(["docker", "push", "-q", ref], env=self.env)
        return took


def remove_local_images(stack: dict[str, str], repos: list[str]) -> None:
    """Leave the shared engine as found: drop the local tags (the registry keeps its copies)."""
    env = {**os.environ, "DOCKER_HOST": stack["DOCKER_HOST"]}
    for repo in repos:
        listed = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
            env=env,
            capture_output=True,
            text=True,
        )
        refs = listed.stdout.split()
        if refs:
            subprocess.run(["docker", "image", "rm", *refs], env=env, capture_output=True)


def main(stack: dict[str, str]) -> int:
    cold, warm = Case("cold-ish (new content)"), Case("warm (same content, new tags)")
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        workdir = Path(tmp)
        ours, theirs = Shipline(stack, workdir, "shipline"), DockerCli(stack, workdir, "docker")
        try:
            # One unmeasured round each: imports, the CLI's first start, the registry's first auth.
            for tool in (ours, theirs):
                write_content(tool.context)
                tool.publish()
            for _ in range(REPETITIONS):
                for tool, case in ((ours, cold.shipline), (theirs, cold.reference)):
                    write_content(tool.context)
                    case.append(tool.publish())
                for tool, case in ((ours, warm.shipline), (theirs, warm.reference)):
                    case.append(tool.publish())
        finally:
            remove_local_images(stack, [ours.repo, theirs.repo])
    print_table(
        "publish: build, two tags, login, push both",
        "docker-publish-tagger",
        "docker build+tag+login+push x2",
        [cold, warm],
    )
    return 0


if __name__ == "__main__":
    run(main)
