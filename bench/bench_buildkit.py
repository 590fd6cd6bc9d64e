"""Benchmark (not a test): docker-publish-tagger with builder buildkit against builder classic, on the example app
(examples/app: a build stage with RUN steps on the local Python base, a runtime stage), same inputs.

The base image is pushed to the stack's registry first (BuildKit pulls from a registry; the classic builder finds
it in the engine), and one unmeasured round warms both (imports, the daemon's copy of the base).
1. cold: new app content each repetition (every step after the base is built, new layers pushed).
2. registry cache, fresh builder: the content of the last cold build again, on a builder that kept nothing —
   BuildKit pruned, `cache_from`/`cache_to` type=registry,mode=max; classic with the local images removed and
   `cache_from` the previous image (what an ephemeral runner has).
`docker buildx build` is compared too where the docker CLI has buildx (this machine's Debian docker.io has not).
Never fails on timing: exits 1 only if a tool itself failed (or the stack is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_publish import remove_local_images  # noqa: E402
from benchlib import (  # noqa: E402
    REPETITIONS,
    ROOT,
    Case,
    ToolFailed,
    console_script,
    load_stack,
    plugin_env,
    print_table,
    run_timed,
)

APP = ROOT / "examples" / "app"


class Tool:
    def __init__(self, stack: dict[str, str], workdir: Path, builder: str, base: str) -> None:
        self.stack, self.builder, self.base = stack, builder, base
        self.context = workdir / builder
        shutil.copytree(APP, self.context)
        self.repo = f"{stack['REGISTRY']}/bench/buildkit-{builder}-{uuid.uuid4().hex[:8]}"
        self.build = 0

    def new_content(self) -> None:
        with (self.context / "app.py").open("a") as f:
            f.write(f"# {uuid.uuid4()}\n")

    def publish(self, cached: bool = False) -> float:
        self.build += 1
        settings = {
            "repo": self.repo,
            "username": self.stack["REGISTRY_USERNAME"],
            "password": self.stack["REGISTRY_PASSWORD"],
            "build_args": f"BASE_IMAGE={self.base}",
            "auto_labels": "false",
            "builder": self.builder,
        }
        if self.builder == "buildkit":
            settings |= {
                "buildkit_addr": self.stack["BUILDKIT_ADDR"],
                "buildkit_ca": Path(self.stack["BUILDKIT_CA_FILE"]).read_text(),
                "buildkit_cert": Path(self.stack["BUILDKIT_CERT_FILE"]).read_text(),
                "buildkit_key": Path(self.stack["BUILDKIT_KEY_FILE"]).read_text(),
                "provenance": "false",  # the classic builder makes none
                "cache_to": f"type=registry,ref={self.repo}:cache,mode=max",
            }
            if cached:
                settings["cache_from"] = f"type=registry,ref={self.repo}:cache"
        elif cached:
            settings["cache_from"] = f"{self.repo}:{self.build - 1}"
        env = plugin_env(
            settings,
            DOCKER_HOST=self.stack["DOCKER_HOST"],
            PATH=f"{Path(self.stack['BUILDCTL_BIN']).parent}:{os.environ['PATH']}",
            DRONE="true",
            DRONE_BUILD_NUMBER=str(self.build),
            DRONE_COMMIT_SHA=uuid.uuid4().hex + "0" * 8,
            PLUGIN_TAG_STRATEGIES="build_id",
        )
        return run_timed([console_script("docker-publish-tagger")], env=env, cwd=self.context, timeout=900)

    def forget(self) -> None:
        """The builder keeps nothing of earlier builds (the base image stays: a runner has its base images)."""
        if self.builder == "buildkit":
            s = self.stack
            tls = ["--tlscacert", s["BUILDKIT_CA_FILE"], "--tlscert", s["BUILDKIT_CERT_FILE"]]
            tls += ["--tlskey", s["BUILDKIT_KEY_FILE"]]
            run_timed([s["BUILDCTL_BIN"], "--addr", s["BUILDKIT_ADDR"], *tls, "prune", "--all"])
        else:
            remove_local_images(self.stack, [self.repo])
            env = {**os.environ, "DOCKER_HOST": self.stack["DOCKER_HOST"]}
            subprocess.run(["docker", "builder", "prune", "-f"], env=env, capture_output=True, check=False)


def push_base(stack: dict[str, str]) -> str:
    """The local Python base in the stack's registry, for BuildKit to pull (the engine has it locally)."""
    ref = f"{stack['REGISTRY']}/bench/python-base:bookworm"
    env = {**os.environ, "DOCKER_HOST": stack["DOCKER_HOST"]}
    with tempfile.TemporaryDirectory() as config:
        env["DOCKER_CONFIG"] = config
        run_timed(["docker", "tag", "shipline/python-base:bookworm", ref], env=env)
        run_timed(
            ["docker", "login", "-u", stack["REGISTRY_USERNAME"], "--password-stdin", stack["REGISTRY"]],
            env=env,
            stdin=stack["REGISTRY_PASSWORD"],
        )
        run_timed(["docker", "push", "-q", ref], env=env, timeout=600)
    return ref


def main() -> int:
    stack = load_stack()
    if "BUILDKIT_ADDR" not in stack:
        print("bench_buildkit: no BUILDKIT_ADDR in .stack/env (stack/buildkit.sh); run `make up`", file=sys.stderr)
        return 1
    cold, cached = Case("cold (new content)"), Case("registry cache, fresh builder")
    with tempfile.TemporaryDirectory(prefix="bench-buildkit-") as tmp:
        try:
            base = push_base(stack)
            ours, theirs = Tool(stack, Path(tmp), "buildkit", base), Tool(stack, Path(tmp), "classic", base)
            for tool in (ours, theirs):  # unmeasured: imports, BuildKit's copy of the base
                tool.new_content()
                tool.publish()
            for _ in range(REPETITIONS):
                for tool, case in ((ours, cold.shipline), (theirs, cold.reference)):
                    tool.new_content()
                    case.append(tool.publish())
                for tool, case in ((ours, cached.shipline), (theirs, cached.reference)):
                    tool.forget()
                    case.append(tool.publish(cached=True))
        except ToolFailed as exc:
            print(f"bench_buildkit: {exc}", file=sys.stderr)
            return 1
        finally:
            remove_local_images(stack, [f"{stack['REGISTRY']}/bench/python-base"])
    print_table(
        "publish the example app: BuildKit vs the classic builder",
        "builder buildkit",
        "builder classic",
        [cold, cached],
    )
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
    if buildx.returncode != 0:
        print("   docker buildx build: not on this machine (the docker CLI has no buildx plugin): not compared\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
