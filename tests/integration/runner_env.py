"""The environment each real runner gives a plugin step: captured into tests/unit/shared/fixtures/runners/
(drone-exec.env, woodpecker-exec.env), which the unit tests read, and compared with them by test_runners.py.

    .venv/bin/python -m tests.integration.runner_env      (after `make up` and `make images`) rewrites them

One plugin step (an image whose entrypoint writes `env` into the workspace, as the runners mask secrets in logs)
with settings that exercise each encoding rule: a dashed and
a dotted key, a misspelt key, a `from_secret` at the top level and inside a list and a map. It runs under
`drone exec` and `woodpecker-cli exec` (the stack's builds, `.stack/env`), in a throwaway git checkout; the
step's output is the fixture. The secret values are fakes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

from tests.integration.stacklib import REPO_ROOT, STACK_ENV, read_env_file

FIXTURES = REPO_ROOT / "tests" / "unit" / "shared" / "fixtures" / "runners"

IMAGE = "shipline/env-printer:capture"
BASE = "shipline/python-base:bookworm"
SECRETS = {"password": "fake-password", "tag_secret": "fake-tag", "npm_token": "fake-npm-token"}
SETTINGS = """\
      dry-run: true
      max_surge.value: 2
      tag: v1
      password:
        from_secret: password
      tags: [a, {from_secret: tag_secret}]
      build_args:
        NPM_TOKEN:
          from_secret: npm_token
"""
DRONE = f"""\
kind: pipeline
type: docker
name: capture
steps:
  - name: env
    image: {IMAGE}
    settings:
{SETTINGS}"""
WOODPECKER = f"""\
matrix:
{"".join(f"  {k}: [{v}]" + chr(10) for k, v in SECRETS.items())}
steps:
  - name: env
    image: {IMAGE}
    settings:
{SETTINGS}"""


def runner_environment(stack: Mapping[str, str]) -> dict[str, str]:
    """What the runners' CLIs need: the stack's engine, at its API version (their Docker clients are older)."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DOCKER_HOST": stack["DOCKER_HOST"],
        "DOCKER_API_VERSION": stack["DOCKER_ENGINE_API_VERSION"],
    }


def woodpecker_exec(stack: Mapping[str, str]) -> list[str]:
    """`woodpecker-cli exec` on the Docker backend. Its containers, volume and network are named after --prefix
    (default `woodpecker`): a unique one keeps runs on a shared engine apart."""
    return [
        stack["WOODPECKER_BIN"],
        "exec",
        "--backend-engine",
        "docker",
        "--prefix",
        f"shipline-{uuid.uuid4().hex[:8]}",
    ]


def _printer_image(env: Mapping[str, str]) -> None:
    build = tempfile.mkdtemp()
    try:
        # The step's working directory is the workspace, which both runners mount from the host's checkout. Python,
        # not `sh -c env`: dash drops variables whose names are not shell identifiers (Drone's PLUGIN_DRY-RUN).
        Path(build, "capture_env.py").write_text(
            "import os\nwith open('captured.env', 'w') as f:\n"
            "    f.writelines(f'{k}={v}\\n' for k, v in sorted(os.environ.items()))\n"
        )
        Path(build, "Dockerfile").write_text(
            f'FROM {BASE}\nCOPY capture_env.py /\nENTRYPOINT ["python3", "/capture_env.py"]\n'
        )
        subprocess.run(["docker", "build", "-q", "-t", IMAGE, build], env=env, check=True, capture_output=True)
    finally:
        shutil.rmtree(build, ignore_errors=True)


def capture(stack: Mapping[str, str]) -> dict[str, list[str]]:
    """{"drone-exec": lines, "woodpecker-exec": lines}: each runner's step environment, NAME=value sorted."""
    env = runner_environment(stack)
    _printer_image(env)
    ws = Path(tempfile.mkdtemp(prefix="shipline-capture-"))
    try:
        git = ["git", "-c", "user.name=capture", "-c", "user.email=capture@example.invalid"]
        subprocess.run([*git, "init", "-q", "-b", "main"], cwd=ws, check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "capture"], cwd=ws, check=True)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, text=True).stdout.strip()
        captured = {}

        (ws / ".drone.yml").write_text(DRONE)
        (ws / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
        drone = [stack["DRONE_BIN"], "exec", "--trusted", "--pipeline", "capture", "--event", "push"]
        drone += ["--branch", "main", "--secret-file", "secrets.env", ".drone.yml"]
        subprocess.run(drone, cwd=ws, env=env, capture_output=True, text=True, check=True, timeout=600)
        captured["drone-exec"] = _lines(ws / "captured.env")

        (ws / ".woodpecker.yml").write_text(WOODPECKER)
        wp = [*woodpecker_exec(stack), "--pipeline-number", "5"]
        wp += ["--commit-sha", sha, "--commit-branch", "main", "--commit-ref", "refs/heads/main"]
        wp += ["--pipeline-event", "push", "--repo", "acme/web", ".woodpecker.yml"]
        subprocess.run(wp, cwd=ws, env=env, capture_output=True, text=True, check=True, timeout=600)
        captured["woodpecker-exec"] = _lines(ws / "captured.env")
        return captured
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def _lines(path: Path) -> list[str]:
    return sorted(line for line in path.read_text().splitlines() if re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*=", line))


def main() -> None:
    for name, lines in capture(read_env_file(STACK_ENV)).items():
        header = f"# The environment {name.replace('-', ' ')} gave a plugin step (runner_env.py); secrets are fakes\n"
        (FIXTURES / f"{name}.env").write_text(header + "\n".join(lines) + "\n")
        print(f"{name}.env: {len(lines)} variables")


if __name__ == "__main__":
    main()
