"""The demo's workspace: a git repository holding the example app and its manifests, as a CI system would have
cloned it. Changing the app is a commit, so every build has its own commit SHA (and so its own tags)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .environment import ROOT

EXAMPLES = ROOT / "examples"


@dataclass
class Workspace:
    path: Path

    @classmethod
    def create(cls, version: str) -> Workspace:
        path = Path(tempfile.mkdtemp(prefix="shipline-demo-"))
        # As a runner's clone step leaves it: root-owned 0755 (the plugin images run as root and write here).
        path.chmod(0o755)
        for name in ("app.py", "Dockerfile"):
            shutil.copy(EXAMPLES / "app" / name, path / name)
        shutil.copytree(EXAMPLES / "k8s", path / "k8s")
        ws = cls(path)
        ws.git("init", "-q", "-b", "main")
        ws.change(version, f"example app {version}")
        return ws

    def git(self, *args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=shipline demo", "-c", "user.email=demo@shipline.invalid", *args],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    def change(self, version: str, message: str, env: dict[str, str] | None = None) -> str:
        """Set the app's version (its VERSION file), and `env` as ENV lines of its Dockerfile (e.g. EXIT_AT_START
        for a broken build, see examples/app/app.py); commit; returns the new commit SHA."""
        (self.path / "VERSION").write_text(version + "\n")
        if env:
            with (self.path / "Dockerfile").open("a") as dockerfile:
                dockerfile.writelines(f"ENV {key}={value}\n" for key, value in env.items())
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.commit

    @property
    def commit(self) -> str:
        return self.git("rev-parse", "HEAD")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
