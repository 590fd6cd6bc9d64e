"""Checks made before anything is built, pushed or applied: can this step write its output files and open its
Docker socket, as the user it runs as?

Drone and Woodpecker hand a step a workspace their clone step made as root (mode 0755) and a mounted Docker
socket as the host has it (typically root:docker 0660, and Drone has no `group_add`). The images run as root
for that reason; an operator who runs them as another user finds out here, with the fix, instead of after a
push (a traceback on `.tags`, a handoff never written).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from shared.errors import PluginError, SettingsError


@dataclass(frozen=True)
class Identity:
    """Who this process is, for permission checks and messages."""

    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def current(cls) -> Identity:
        return cls(os.geteuid(), os.getegid(), frozenset(os.getgroups()) | {os.getegid()})

    def describe(self) -> str:
        return f"uid {self.uid} (gid {self.gid}, groups {','.join(str(g) for g in sorted(self.groups)) or '-'})"


def _owner(path: Path) -> str:
    st = path.stat()
    return f"owned by uid {st.st_uid}:{st.st_gid}, mode {stat.S_IMODE(st.st_mode):04o}"


def _existing(path: Path) -> Path:
    """`path` itself when it exists, else its nearest existing ancestor (where it would be created)."""
    current = path.absolute()
    # os.path.exists, not Path.exists: a directory we may not search is "not there" here, not a traceback.
    while not os.path.exists(current) and current != current.parent:
        current = current.parent
    return current


def unwritable(path: Path) -> str:
    """Why this process cannot create or replace the file `path`; "" when it can."""
    target = _existing(path)
    if target == path.absolute() and not os.path.isdir(target):
        # Replaced through a temporary file beside it (atomic writes) or rewritten in place: both need the directory
        # or the file; the directory is what a root-owned workspace refuses.
        directory = target.parent
        if os.access(directory, os.W_OK | os.X_OK) or os.access(target, os.W_OK):
            return ""
        return f"neither it nor its directory {directory} is writable ({_owner(directory)})"
    if os.path.isdir(target):
        if os.access(target, os.W_OK | os.X_OK):
            return ""
        where = "it" if target == path.absolute() else f"{target}, where it would be created,"
        return f"{where} is not writable ({_owner(target)})"
    return f"{target} is not a directory"


def check_outputs(outputs: Iterable[tuple[str, Path]], who: Identity | None = None) -> None:
    """SettingsError (exit 2) naming the first output setting whose file this step cannot write."""
    who = who or Identity.current()
    for env, path in outputs:
        problem = unwritable(path)
        if problem:
            raise SettingsError(
                env,
                f'"{path}" cannot be written: {problem}; this step runs as {who.describe()}. '
                "Run the image as root (its default: CI workspaces are root-owned 0755), make the directory "
                f"writable for uid {who.uid}, or set {env} to a writable path",
            )


def check_docker_socket(docker_host: str, who: Identity | None = None) -> None:
    """PluginError (exit 1) when `docker_host` is a unix socket that exists but this step may not open."""
    if not docker_host.startswith("unix://"):
        return
    sock = Path(docker_host.removeprefix("unix://"))
    if not os.path.exists(sock):
        return  # nothing mounted: connecting says so, naming the setting to use instead
    if os.access(sock, os.R_OK | os.W_OK):
        return
    who = who or Identity.current()
    gid = sock.stat().st_gid
    raise PluginError(
        f"cannot open the Docker socket {sock} ({_owner(sock)}): this step runs as {who.describe()}. "
        f"Run the image as root (its default; Drone has no group_add), give the step the socket's group "
        f"(docker run --group-add {gid}; Woodpecker/Kubernetes: supplemental group {gid}), "
        "or set docker_host to a docker-in-docker service (tcp://docker:2375)"
    )
