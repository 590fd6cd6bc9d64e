"""main(): every bad input exits 2 with one line naming the setting, before any request is made; dry_run
prints the plan and requests nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.deployment_verify.__main__ import main
from tests.harness import Harness

# A CA in PEM form is only parsed, never used, by these tests.
FAKE_CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
TOKEN = "tok-sup3r-s3cret-value"


@pytest.fixture
def server(harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[socket.socket]:
    """A listening socket posing as the API server (and HTTP target): nothing may connect to it."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.chdir(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    harness.configure(
        secrets=[TOKEN],
        kubernetes_server=f"https://127.0.0.1:{port}",
        kubernetes_cert=FAKE_CA,
        kubernetes_token=TOKEN,
        urls=f"http://127.0.0.1:{port}/healthz",
    )
    yield sock
    sock.close()


def assert_untouched(sock: socket.socket) -> None:
    with pytest.raises(BlockingIOError):
        sock.accept()


BAD_INPUTS = [
    pytest.param({"PLUGIN_NAMESPACE": "shop"}, "PLUGIN_DEPLOYMENTS: is required", id="no-deployment-named"),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_LABEL_SELECTOR": "app=web"}, "PLUGIN_DEPLOYMENTS: set either", id="both"
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "Web_App"}, 'PLUGIN_DEPLOYMENTS: "Web_App" is not a Deployment name', id="bad-name"
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_EXPECT_BODY": "ok(("},
        'PLUGIN_EXPECT_BODY: "ok((" is not a valid regex',
        id="bad-regex",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_TIMEOUT": "soon"},
        'PLUGIN_TIMEOUT: "soon" is not a duration (e.g. 30s, 5m)',
        id="bad-duration",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_TIMEOUT": "0s"},
        'PLUGIN_TIMEOUT: "0s" is below the minimum 1',
        id="zero-timeout",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_MAX_ERROR_RATE": "1.5"},
        'PLUGIN_MAX_ERROR_RATE: "1.5" is above the maximum 1',
        id="error-rate-above-1",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_MAX_ERROR_RATE": "-0.1"},
        'PLUGIN_MAX_ERROR_RATE: "-0.1" is below the minimum 0',
        id="error-rate-below-0",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_ROLLBACK_ON_FAILURE": "maybe"},
        'PLUGIN_ROLLBACK_ON_FAILURE: "maybe" is not a boolean',
        id="unknown-boolean-value",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_EXPECT_STATUS": "OK"},
        'PLUGIN_EXPECT_STATUS: "OK" is not a whole number',
        id="status-not-a-number",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_URLS": "ftp://host/x"},
        'PLUGIN_URLS: "ftp://host/x" is not an http(s) URL',
        id="not-http",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_BASELINE_URL": "http://a/"},
        "PLUGIN_CANARY_URL: is required for canary analysis",
        id="baseline-without-canary",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_EXPECTED_IMAGE": "Shop/Web:1"},
        "PLUGIN_EXPECTED_IMAGE: ",
        id="bad-image",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_PUBLISH_FILE": "missing.json"},
        'PLUGIN_PUBLISH_FILE: "missing.json" does not exist',
        id="named-handoff-missing",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_KUBERNETES_CERT": "not a cert"},
        "PLUGIN_KUBERNETES_CERT: is neither a PEM certificate nor base64-encoded PEM",
        id="bad-ca",
    ),
    pytest.param(
        {"PLUGIN_DEPLOYMENTS": "web", "PLUGIN_HEADERS": '{"Authorization": '},
        "PLUGIN_HEADERS: ****** is not a valid JSON object",
        id="bad-headers-masked",
    ),
]


@pytest.mark.parametrize(("env", "message"), BAD_INPUTS)
def test_bad_input_exits_2_before_any_request(
    server: socket.socket, harness: Harness, env: dict[str, str], message: str
) -> None:
    run = harness.run(main, **env)
    assert run.code == 2, run.out
    assert message in run.out
    assert len([line for line in run.out.splitlines() if line.startswith("xx ")]) == 1
    assert_untouched(server)


def test_bad_handoff_file_exits_2(server: socket.socket, harness: Harness) -> None:
    Path(".shipline").mkdir()
    Path(".shipline/publish.json").write_text("{not json")
    run = harness.run(main, deployments="web")
    assert run.code == 2 and "PLUGIN_PUBLISH_FILE" in run.last, run.out
    assert_untouched(server)


def test_dry_run_prints_the_plan_and_requests_nothing(server: socket.socket, harness: Harness) -> None:
    digest = "sha256:" + "b" * 64
    Path(".shipline").mkdir()
    Path(".shipline/publish.json").write_text(
        json.dumps({"repo": "reg/web", "tags": ["1"], "digest": digest, "image": f"reg/web@{digest}"})
    )
    run = harness.run(main, deployments="web", dry_run=True, headers="X-Token=hdr-s3cret-123")
    assert run.code == 0, run.out
    assert "wait for the rollout of web" in run.out
    assert f"every new pod must run reg/web@{digest} (.shipline/publish.json)" in run.out
    assert "hdr-s3cret-123" not in run.out
    assert_untouched(server)


def test_arguments_are_refused(server: socket.socket, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web"]) == 2


def test_help_prints_the_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "| `max_error_rate` | float |" in capsys.readouterr().out
