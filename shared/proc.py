"""The one subprocess wrapper (helm, git): argv logged with secrets masked, failures raised with the command,
exit code and output. Secrets are never passed in argv: give the child a file path instead."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from shared.errors import CommandError
from shared.log import Log


def run(
    argv: Sequence[str],
    log: Log,
    *,
    timeout: float = 300,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> str:
    """Run `argv`, return its stdout; CommandError (masked) when it fails or times out."""
    shown = log.masker(shlex.join(argv))
    if not quiet:
        log.info(f"$ {shown}")
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise CommandError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"`{shown}` did not finish within {timeout:.0f}s") from None
    if done.returncode != 0:
        output = log.masker((done.stderr or done.stdout).strip())
        raise CommandError(f"`{shown}` exited {done.returncode}: {output}")
    return done.stdout
