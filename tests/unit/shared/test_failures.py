"""What Docker, registries, the Kubernetes client, helm and the file system raise becomes exit 1 with the cause in
one line; anything else is a shipline bug: exit 3 with a traceback."""

from __future__ import annotations

import errno
import json
import subprocess

import docker.errors
import pyhelm3.errors
import pytest
import requests
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from shared.failures import describe_failure
from shared.log import Log
from shared.runner import run_plugin
from shared.settings import Declaration, Setting

DECL = Declaration("demo", (Setting("password", secret=True, doc="A password"),))


def _api_exception(status: int, reason: str, message: str) -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = json.dumps({"kind": "Status", "message": message})
    return error


def _docker_api_error() -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = 400
    return docker.errors.APIError("400 Client Error", response, explanation='invalid reference format: "{\\"a\\":1}"')


FAILURES = [
    pytest.param(_docker_api_error(), "the Docker engine answered 400: invalid reference format", id="docker-api"),
    pytest.param(docker.errors.DockerException("Error while fetching server API version"), "Docker: ", id="docker"),
    pytest.param(
        _api_exception(403, "Forbidden", 'replicasets.apps is forbidden: User "x" cannot list\nresource'),
        "the Kubernetes API answered 403 Forbidden: replicasets.apps is forbidden",
        id="kube-api",
    ),
    pytest.param(ApiException(status=0, reason="Handshake status 500"), "the Kubernetes API answered 0", id="kube-ws"),
    pytest.param(ConfigException("Invalid kube-config file."), "Kubernetes client configuration", id="kube-config"),
    pytest.param(
        pyhelm3.errors.ChartNotFoundError(1, b"", b'Error: chart "web" not found\n'),
        "helm: ChartNotFoundError: Error: chart",
        id="helm",
    ),
    pytest.param(requests.ConnectionError("Connection refused"), "HTTP request failed: Connection refused", id="http"),
    pytest.param(urllib3.exceptions.ProtocolError("Connection aborted."), "connection failed", id="urllib3"),
    pytest.param(subprocess.TimeoutExpired(["helm", "upgrade"], 5), "helm timed out", id="timeout"),
    pytest.param(
        PermissionError(errno.EACCES, "Permission denied", "/report.json"),
        "Permission denied (/report.json)",
        id="file-system",
    ),
    pytest.param(OSError(errno.ENOSPC, "No space left on device"), "No space left on device", id="disk-full"),
]


@pytest.mark.parametrize(("error", "cause"), FAILURES)
def test_operation_failures_are_exit_1_with_the_cause_in_one_line(
    error: Exception, cause: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def fail(values: object, log: Log) -> int:
        raise error

    assert run_plugin(DECL, fail, argv=[]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Traceback" not in out, out
    assert out.startswith("xx demo: ") and cause in out, out


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KeyError("x"), id="key-error"),
        pytest.param(TypeError("unsupported operand"), id="type-error"),
        pytest.param(ValueError("bad"), id="value-error"),
        pytest.param(AttributeError("no attribute"), id="attribute-error"),
    ],
)
def test_bugs_are_not_failures(error: Exception) -> None:
    assert describe_failure(error) is None


def test_a_bug_is_exit_3_with_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def bug(values: object, log: Log) -> int:
        return {}["missing"]  # type: ignore[no-any-return]

    assert run_plugin(DECL, bug, argv=[]) == 3
    out = capsys.readouterr().out
    assert "Traceback" in out and "internal error: KeyError" in out


def test_the_cause_is_masked(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PLUGIN_PASSWORD", "sup3r-s3cret")

    def fail(values: object, log: Log) -> int:
        raise requests.HTTPError("401 for https://user:sup3r-s3cret@registry.example/v2/")

    assert run_plugin(DECL, fail, argv=[]) == 1
    out = capsys.readouterr().out
    assert "sup3r-s3cret" not in out and "******" in out
