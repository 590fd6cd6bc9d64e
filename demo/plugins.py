"""Running a plugin the way a CI system does: its image with `PLUGIN_*` variables and the workspace mounted, or
(when the images are not built) its console script with the same variables.

Values reach the child only through its environment (`docker run -e NAME`, no `=value`: the docker CLI takes the
value from its own environment), so no setting, and no secret, is ever in a child's argv.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.log import Log

from .environment import ROOT

PLUGINS = ("docker-publish-tagger", "kubectl-helm-deploy", "deployment-verify", "chaos-kill")


def version() -> str:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def image_of(plugin: str) -> str:
    """The image `make images` builds for a plugin (tagged $SHIPLINE_IMAGE_TAG when set, else the version)."""
    return f"shipline/{plugin}:{os.environ.get('SHIPLINE_IMAGE_TAG') or version()}"


def encode(value: object) -> str:
    """A setting's value as Drone and Woodpecker hand it over: lists comma-joined, maps as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ",".join(encode(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def plugin_env(settings: Mapping[str, object]) -> dict[str, str]:
    """`PLUGIN_<NAME>` for each setting (None leaves it unset)."""
    return {
        "PLUGIN_" + re.sub(r"[-.]", "_", name).upper(): encode(value)
        for name, value in settings.items()
        if value is not None
    }


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str


class PluginRunner(Protocol):
    kind: str

    def run(self, plugin: str, env: Mapping[str, str], workdir: Path, log: Log) -> Outcome: ...


def _stream(argv: list[str], env: Mapping[str, str], cwd: Path, log: Log, timeout: float) -> Outcome:
    """Run `argv`, echoing its output (masked, indented) as it comes; the whole output is returned too."""
    lines: list[str] = []
    with subprocess.Popen(
        argv, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            log.info("| " + line.rstrip("\n"))
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    return Outcome(code, "\n".join(lines))


@dataclass
class ImageRunner:
    """`docker run --rm --network host -e PLUGIN_... -v <workspace>:<workspace> -w <workspace> shipline/<plugin>`."""

    docker_host: str
    timeout: float = 600.0
    kind: str = "image"

    def argv(self, plugin: str, env: Mapping[str, str], workdir: Path) -> list[str]:
        argv = ["docker", "run", "--rm", "--network", "host", "-v", f"{workdir}:{workdir}", "-w", str(workdir)]
        if plugin == "docker-publish-tagger":
            # It builds and pushes through the engine: its socket, mounted as a runner's volume would (no group added).
            sock = self.docker_host.removeprefix("unix://")
            argv += ["-v", f"{sock}:/var/run/docker.sock"]
        for name in sorted(env):
            argv += ["-e", name]  # the value comes from the docker CLI's environment, never argv
        return [*argv, image_of(plugin)]

    def run(self, plugin: str, env: Mapping[str, str], workdir: Path, log: Log) -> Outcome:
        argv = self.argv(plugin, env, workdir)
        log.info("$ " + " ".join(argv))
        child_env = {"PATH": os.environ.get("PATH", ""), "DOCKER_HOST": self.docker_host, **env}
        return _stream(argv, child_env, workdir, log, self.timeout)


@dataclass
class ScriptRunner:
    """The console script from the project's venv, with the same variables (when the images are not built)."""

    docker_host: str
    timeout: float = 600.0
    kind: str = "console script"

    def run(self, plugin: str, env: Mapping[str, str], workdir: Path, log: Log) -> Outcome:
        script = Path(sys.executable).with_name(plugin)
        log.info(f"$ {plugin}   (console script; {len(env)} variables set)")
        child_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        child_env |= {"DOCKER_HOST": self.docker_host, **env}
        return _stream([str(script)], child_env, workdir, log, self.timeout)


def images_built(docker_host: str) -> bool:
    """True when all four images exist on the engine."""
    env = {"PATH": os.environ.get("PATH", ""), "DOCKER_HOST": docker_host}
    for plugin in PLUGINS:
        found = subprocess.run(
            ["docker", "image", "inspect", image_of(plugin)], env=env, capture_output=True, check=False
        )
        if found.returncode != 0:
            return False
    return True
