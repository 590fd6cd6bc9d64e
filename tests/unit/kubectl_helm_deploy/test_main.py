"""main(): an input error found while the plan is built (the workspace's manifests, values files, image handoff)
exits 2 before any request, and the JSON report says so, with no plan and nothing done."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from plugins.kubectl_helm_deploy.__main__ import main
from tests.harness import Harness

TOKEN = "tok-sup3r-s3cret-value"


@pytest.fixture
def server(harness: Harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[socket.socket]:
    """A listening socket posing as the API server: nothing may connect to it."""
    monkeypatch.chdir(tmp_path)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    harness.configure(
        secrets=[TOKEN],
        kubernetes_server=f"http://127.0.0.1:{sock.getsockname()[1]}",
        kubernetes_token=TOKEN,
        namespace="shop",
    )
    yield sock
    sock.close()


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        pytest.param({"manifests": "k8s"}, 'PLUGIN_MANIFESTS: "k8s" does not exist', id="manifests-missing"),
        pytest.param(
            {"manifests": "", "chart": "chart", "values_files": "prod.yaml", "helm_bin": "/bin/true"},
            'PLUGIN_VALUES_FILES: "prod.yaml" does not exist',
            id="values-file-missing",
        ),
        pytest.param(
            {"manifests": "k8s", "publish_file": "published.json"}, "PLUGIN_PUBLISH_FILE: ", id="handoff-file-missing"
        ),
    ],
)
def test_input_error_while_planning_is_reported(
    harness: Harness, server: socket.socket, tmp_path: Path, settings: dict[str, str], line: str
) -> None:
    report = tmp_path / "report.json"
    run = harness.run(main, report, report_file=report, **settings)
    assert run.code == 2, run.out
    assert line in run.last
    assert run.report["result"] == "failed" and line in run.report["error"]
    assert run.report["plan"] == [] and run.report["objects"] == []
    with pytest.raises(BlockingIOError):
        server.accept()  # no request was made
