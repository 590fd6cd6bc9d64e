"""Preflight as a CI workspace meets it: a root-owned 0755 workspace and a root:docker 0660 socket, checked as a
non-root uid (the test drops to uid 10001 in a forked child when it runs as root, as CI machines here do)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.errors import PluginError, SettingsError
from shared.preflight import Identity, check_docker_socket, check_outputs
from shared.runner import run_plugin
from shared.settings import Declaration, Setting

UID = 10001


def as_user(uid: int, check: Callable[[], None]) -> str:
    """Run `check` as `uid` (a forked child that drops root); the error it raised as 'Type: message', or ''."""
    if os.geteuid() != 0:
        uid = os.geteuid()  # already unprivileged: check in place
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        result = ""
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            check()
        except (SettingsError, PluginError) as e:
            result = f"{type(e).__name__}: {e}"
        except BaseException as e:  # noqa: BLE001 - reported to the parent, never raised in the fork
            result = f"unexpected {type(e).__name__}: {e}"
        os.write(write, result.encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A temporary directory every uid may search (pytest's own live under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="shipline-preflight-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A workspace as the clone step leaves it: owned by root (the test's user), 0755, with a checkout inside."""
    ws = tmp_path / "src"
    ws.mkdir()
    (ws / "Dockerfile").write_text("FROM scratch\n")
    ws.chmod(0o755)
    return ws


@pytest.fixture
def docker_socket(tmp_path: Path) -> Iterator[Path]:
    """A unix socket with the host socket's usual mode (0660), owned by the test's user and a group not ours."""
    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o660)
    yield path
    server.close()


def test_root_owned_workspace_refuses_a_non_root_output(workspace: Path) -> None:
    error = as_user(UID, lambda: check_outputs([("PLUGIN_TAGS_FILE", workspace / ".tags")]))
    assert error.startswith(f'SettingsError: PLUGIN_TAGS_FILE: "{workspace / ".tags"}" cannot be written')
    assert f"{workspace}, where it would be created, is not writable (owned by uid" in error
    assert "mode 0755" in error
    assert f"this step runs as uid {UID if os.geteuid() == 0 else os.geteuid()}" in error
    assert "Run the image as root" in error and "set PLUGIN_TAGS_FILE to a writable path" in error


def test_nested_output_names_the_directory_that_blocks_it(workspace: Path) -> None:
    target = workspace / ".shipline" / "publish.json"
    error = as_user(UID, lambda: check_outputs([("PLUGIN_OUTPUT_FILE", target)]))
    assert f"{workspace}, where it would be created, is not writable" in error


def test_existing_read_only_file_in_a_root_owned_workspace(workspace: Path) -> None:
    (workspace / ".tags").write_text("old\n")
    (workspace / ".tags").chmod(0o644)
    error = as_user(UID, lambda: check_outputs([("PLUGIN_TAGS_FILE", workspace / ".tags")]))
    assert "neither it nor its directory" in error


def test_writable_workspace_and_root_pass(workspace: Path) -> None:
    outputs = [("PLUGIN_TAGS_FILE", workspace / ".tags"), ("PLUGIN_OUTPUT_FILE", workspace / ".shipline" / "p.json")]
    assert as_user(os.geteuid(), lambda: check_outputs(outputs)) == ""
    workspace.chmod(0o777)
    assert as_user(UID, lambda: check_outputs(outputs)) == ""


def test_an_output_under_a_file_is_refused(workspace: Path) -> None:
    error = as_user(UID, lambda: check_outputs([("PLUGIN_REPORT_FILE", workspace / "Dockerfile" / "r.json")]))
    assert f"{workspace / 'Dockerfile'} is not a directory" in error


def test_socket_the_step_cannot_open_is_exit_1_with_the_fix(docker_socket: Path) -> None:
    error = as_user(UID, lambda: check_docker_socket(f"unix://{docker_socket}"))
    assert error.startswith(f"PluginError: cannot open the Docker socket {docker_socket} (owned by uid")
    assert "mode 0660" in error
    gid = docker_socket.stat().st_gid
    assert f"--group-add {gid}" in error and "Run the image as root" in error


def test_socket_checks_pass_for_its_owner_tcp_hosts_and_missing_sockets(docker_socket: Path, tmp_path: Path) -> None:
    assert as_user(os.geteuid(), lambda: check_docker_socket(f"unix://{docker_socket}")) == ""
    assert as_user(UID, lambda: check_docker_socket("tcp://docker:2375")) == ""
    assert as_user(UID, lambda: check_docker_socket(f"unix://{tmp_path / 'missing.sock'}")) == ""


def test_identity_describes_uid_and_groups() -> None:
    assert Identity(10001, 10001, frozenset({10001, 998})).describe() == "uid 10001 (gid 10001, groups 998,10001)"


def test_run_plugin_checks_outputs_before_executing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every plugin goes through run_plugin: an output it cannot write is exit 2 and `execute` never runs;
    unknown settings are warned about first."""
    (tmp_path / "file").write_text("")
    decl = Declaration("demo", (Setting("report_file", "path", None, "Report", output=True),))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLUGIN_REPORT_FILE", "file/report.json")
    monkeypatch.setenv("PLUGIN_REPORT", "x")
    ran: list[bool] = []
    assert run_plugin(decl, lambda values, log: ran.append(True), argv=[]) == 2
    assert ran == []
    out = capsys.readouterr()
    text = out.out + out.err
    assert "PLUGIN_REPORT is not a setting of demo and is ignored (did you mean report_file?)" in text
    assert f'PLUGIN_REPORT_FILE: "file/report.json" cannot be written: {tmp_path / "file"} is not a directory' in text
    assert "Traceback" not in text
