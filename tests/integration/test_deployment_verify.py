"""deployment-verify against the real stack: kwok-backed Deployments, the deployer's least-privilege token given
as a pipeline would (kubernetes_server + kubernetes_cert + kubernetes_token), local HTTP servers started here.

Images are never pulled under kwok: a tag containing `crash` crash-loops, `unready` never becomes Ready, any
other image is Ready about a second after scheduling.
"""

from __future__ import annotations

import http.server
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from plugins.deployment_verify.__main__ import main
from shared.handoff import Published, write_published
from tests.harness import Harness, Run

from .realnode import available
from .stacklib import REPO_ROOT, Namespace, deployment_manifest, wait_for

REPO = "127.0.0.1:5000/shop/web"
DIGEST_1 = "sha256:" + "1" * 64
DIGEST_2 = "sha256:" + "2" * 64


# -- the cluster side --------------------------------------------------------------------------------------------


@dataclass
class Cluster:
    api: client.ApiClient
    namespace: str

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def create(self, name: str, image: str, replicas: int = 2, *, wait: bool = True) -> None:
        self.apps.create_namespaced_deployment(
            self.namespace, deployment_manifest(name, image, replicas, labels={"tier": "web"})
        )
        if wait:
            self.wait_complete(name)

    def set_image(self, name: str, image: str) -> None:
        patch = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": image}]
        self.apps.patch_namespaced_deployment(name, self.namespace, patch)

    def read(self, name: str) -> client.V1Deployment:
        return self.apps.read_namespaced_deployment(name, self.namespace)

    def wait_complete(self, name: str) -> None:
        wait_for(lambda: available(self.api, self.namespace, name), 30, what=f"deployment {name} complete")


@pytest.fixture
def cluster(kube_admin: client.ApiClient, namespace: Namespace) -> Cluster:
    return Cluster(kube_admin, namespace.name)


@pytest.fixture
def plugin_env(deployer: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """Run main() in-process as a pipeline step would, in a fresh workspace. Returns (exit code, output)."""
    monkeypatch.chdir(tmp_path)
    deployer.configure(report_file=tmp_path / "report.json", junit_file=tmp_path / "junit.xml")
    return lambda **settings: deployer.run(main, **settings)


def report(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "report.json").read_text())  # type: ignore[no-any-return]


def checks(tmp_path: Path) -> dict[str, bool]:
    return {c["name"]: c["passed"] for c in report(tmp_path)["checks"]}


# -- rollout ---------------------------------------------------------------------------------------------------


def test_good_rollout_passes_and_reports(cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path) -> None:
    cluster.create("web", f"{REPO}:v1", wait=False)  # verify waits for it
    code, out = plugin_env(deployments="web")
    assert code == 0, out
    assert 'deployment "web" successfully rolled out' in out
    assert report(tmp_path)["passed"] is True
    assert report(tmp_path)["rollouts"]["web"]["revision"] == "1"
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"


def test_label_selector_verifies_every_match(cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path) -> None:
    cluster.create("web", f"{REPO}:v1", wait=False)
    cluster.create("api", f"{REPO}:v1", replicas=1, wait=False)
    code, out = plugin_env(label_selector="tier=web")
    assert code == 0, out
    assert set(checks(tmp_path)) == {"rollout api", "rollout web"}


def test_expected_image_by_digest(cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path) -> None:
    cluster.create("web", f"{REPO}@{DIGEST_1}")
    code, out = plugin_env(deployments="web", expected_image=f"{REPO}@{DIGEST_1}")
    assert code == 0, out
    assert checks(tmp_path) == {"rollout web": True, "image web": True}

    # The default: the handoff file docker-publish-tagger wrote into the workspace, by digest.
    write_published(
        tmp_path / ".shipline" / "publish.json",
        Published(repo=REPO, tags=["v1"], digest=DIGEST_1, image=f"{REPO}@{DIGEST_1}"),
    )
    code, out = plugin_env(deployments="web", expected_image="")
    assert code == 0, out
    assert f"every new pod must run {REPO}@{DIGEST_1} (.shipline/publish.json)" in out

    code, out = plugin_env(deployments="web", expected_image=f"{REPO}@{DIGEST_2}")
    assert code == 1, out
    assert checks(tmp_path) == {"rollout web": True, "image web": False}
    assert "image web: pod web-" in out.splitlines()[-1]


def test_crash_fails_fast_naming_crashloopbackoff(
    cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path
) -> None:
    cluster.create("web", f"{REPO}:v1")
    cluster.set_image("web", f"{REPO}:crash")
    code, out = plugin_env(deployments="web", timeout="5m")
    assert code == 1, out
    last = out.splitlines()[-1]
    assert "rollout web" in last and "CrashLoopBackOff" in last
    assert "container app" in last and "last termination: Error, exit code 1" in last
    assert "Recent events" in out and "BackOff" in out  # the pods' events are in the log
    assert checks(tmp_path) == {"rollout web": False}


def test_unready_times_out_naming_the_pods(cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path) -> None:
    cluster.create("web", f"{REPO}:v1")
    cluster.set_image("web", f"{REPO}:unready")
    code, out = plugin_env(deployments="web", timeout="4s")
    assert code == 1, out
    last = out.splitlines()[-1]
    assert 'deployment "web" did not finish rolling out within 4s' in last
    assert "pods never Ready: web-" in last and "containers with unready status: [app]" in last


def test_missing_deployment_fails(cluster: Cluster, plugin_env: Callable[..., Run]) -> None:
    code, out = plugin_env(deployments="nothere", timeout="5s")
    assert code == 1
    assert 'deployment "nothere" not found in namespace' in out.splitlines()[-1]


def test_rollback_restores_the_previous_revision(
    cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path
) -> None:
    cluster.create("web", f"{REPO}:v1", replicas=3)
    cluster.set_image("web", f"{REPO}:crash")
    code, out = plugin_env(deployments="web", rollback_on_failure="true")
    assert code == 1, out
    assert checks(tmp_path) == {"rollout web": False, "rollback web": True}
    assert report(tmp_path)["rolled_back"] == {"web": "3"}  # revision 1's ReplicaSet, renumbered 3
    assert "rolled back: web now at revision 3" in out.splitlines()[-1]
    # What the cluster says, not what the plugin says:
    d = cluster.read("web")
    assert d.spec.template.spec.containers[0].image == f"{REPO}:v1"
    assert "pod-template-hash" not in (d.spec.template.metadata.labels or {})
    assert (d.status.available_replicas, d.status.updated_replicas, d.status.replicas) == (3, 3, 3)
    pods = client.CoreV1Api(cluster.api).list_namespaced_pod(cluster.namespace, label_selector="app=web").items
    live = [p for p in pods if not p.metadata.deletion_timestamp]
    assert {p.spec.containers[0].image for p in live} == {f"{REPO}:v1"}


# -- HTTP -----------------------------------------------------------------------------------------------------


@dataclass
class Behaviour:
    status: int = 200
    body: str = "hello shipline"
    delay: float = 0.0
    fail_every: int = 0  # every Nth request answers 500
    count: int = 0


@dataclass
class WebServer:
    """A local HTTP server; each path behaves as configured."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    httpd: http.server.ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, port: int = 0) -> WebServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                b = server.behaviours.get(self.path, Behaviour(status=404, body="no such path"))
                with server.lock:
                    b.count += 1
                    failing = b.fail_every and b.count % b.fail_every == 0
                time.sleep(b.delay)
                body = b"boom" if failing else b.body.encode()
                self.send_response(500 if failing else b.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def web() -> Iterator[WebServer]:
    server = WebServer(
        {
            "/ok": Behaviour(),
            "/flaky": Behaviour(fail_every=2),
            "/rare": Behaviour(fail_every=4),
            "/slow": Behaviour(delay=0.3),
            "/wrong": Behaviour(body="goodbye"),
        }
    ).start()
    yield server
    server.stop()


HTTP_CASES = [
    pytest.param("/ok", {}, True, "", id="ok"),
    pytest.param("/flaky", {"max_error_rate": "0.25"}, False, "error rate 50.0% > 25.0%", id="error-rate-caught"),
    pytest.param("/rare", {"max_error_rate": "0.25"}, True, "", id="error-rate-within"),
    pytest.param("/slow", {"max_latency_ms": "150"}, False, "p95 latency", id="slow-caught"),
    pytest.param("/slow", {"max_latency_ms": "2000"}, True, "", id="slow-within"),
    pytest.param("/wrong", {"expect_body": "^hello"}, False, "body does not match /^hello/", id="wrong-body"),
    pytest.param("/ok", {"expect_status": "204"}, False, "HTTP 200 (expected 204)", id="wrong-status"),
    pytest.param("/slow", {"request_timeout": "100ms"}, False, "timed out after 0.1s", id="timeout"),
]


@pytest.mark.parametrize(("path", "settings", "passed", "message"), HTTP_CASES)
def test_http_thresholds(
    cluster: Cluster,
    plugin_env: Callable[..., Run],
    tmp_path: Path,
    web: WebServer,
    path: str,
    settings: dict[str, str],
    passed: bool,
    message: str,
) -> None:
    cluster.create("web", f"{REPO}:v1")
    settings = {"requests_per_url": "4", "interval": "10ms", "warmup_retries": "0", **settings}
    code, out = plugin_env(deployments="web", urls=web.url(path), **settings)
    assert code == (0 if passed else 1), out
    assert checks(tmp_path)[f"http {web.url(path)}"] is passed
    if message:
        assert message in out.splitlines()[-1]


def test_http_headers_are_sent_and_masked(cluster: Cluster, plugin_env: Callable[..., Run]) -> None:
    seen: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization", ""))
            self.send_response(200 if self.headers.get("Authorization") == "Bearer hdr-s3cret" else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        cluster.create("web", f"{REPO}:v1")
        url = f"http://127.0.0.1:{httpd.server_address[1]}/"
        code, out = plugin_env(deployments="web", urls=url, headers='{"Authorization": "Bearer hdr-s3cret"}')
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert code == 0, out
    assert seen and set(seen) == {"Bearer hdr-s3cret"}  # warm-up and measured requests alike
    assert "hdr-s3cret" not in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_warmup_rides_out_a_late_server(cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path) -> None:
    cluster.create("web", f"{REPO}:v1")
    port = free_port()
    late = WebServer({"/ok": Behaviour()})
    timer = threading.Timer(1.5, late.start, kwargs={"port": port})
    timer.start()
    try:
        url = f"http://127.0.0.1:{port}/ok"
        code, out = plugin_env(deployments="web", urls=url, warmup_retries="6", warmup_backoff="250ms")
    finally:
        timer.cancel()
        timer.join()
        late.stop()
    assert code == 0, out
    assert "warm-up retry 1/6" in out and "connection refused" in out
    assert checks(tmp_path)[f"http {url}"] is True


@pytest.mark.parametrize(
    ("canary_path", "passed"),
    [pytest.param("/flaky", False, id="more-errors-caught"), pytest.param("/flaky-twin", True, id="equal-passes")],
)
def test_canary_comparison(
    cluster: Cluster, plugin_env: Callable[..., Run], tmp_path: Path, web: WebServer, canary_path: str, passed: bool
) -> None:
    web.behaviours["/flaky-twin"] = Behaviour(fail_every=2)
    web.behaviours["/flaky"].count = 0
    baseline = "/ok" if canary_path == "/flaky" else "/flaky"
    cluster.create("web", f"{REPO}:v1")
    code, out = plugin_env(
        deployments="web",
        baseline_url=web.url(baseline),
        canary_url=web.url(canary_path),
        requests_per_url="6",
        interval="10ms",
        warmup_retries="0",
        max_error_rate_increase="0.1",
        max_latency_increase="1s",
    )
    assert code == (0 if passed else 1), out
    got = checks(tmp_path)
    assert got["canary error rate"] is passed
    assert got["canary p95 latency"] is True
    if not passed:
        assert "canary error rate: canary error rate 50.0% vs baseline 0.0%" in out.splitlines()[-1]


# -- the watch cut mid-wait ------------------------------------------------------------------------------------


class CuttableProxy:
    """A TCP proxy on 127.0.0.1 in front of the API server (TLS passes through untouched). `cut()` drops every
    connection and refuses new ones for a while, as an API server restart does."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.accepted = 0
        self.listener: socket.socket | None = None
        self.open_listener()

    def open_listener(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self.accept_loop, args=(listener,), daemon=True).start()

    def accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                down, _ = listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream)
            except OSError:
                down.close()
                continue
            with self.lock:
                self.accepted += 1
                self.conns += [down, up]
            threading.Thread(target=self.pump, args=(down, up), daemon=True).start()

    def pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self, refuse_for: float) -> None:
        assert self.listener is not None
        self.listener.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        time.sleep(refuse_for)
        self.open_listener()

    def close(self) -> None:
        if self.listener:
            self.listener.close()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_watch_cut_mid_wait_is_resumed(cluster: Cluster, namespace: Namespace, tmp_path: Path) -> None:
    """The plugin waits on an unready rollout; every connection to the API server is cut and refused for two
    seconds; meanwhile the Deployment is fixed. The plugin resumes its watches and reports the fixed rollout."""
    host, port = namespace.server.removeprefix("https://").rsplit(":", 1)
    proxy = CuttableProxy((host, int(port)))
    cluster.create("web", f"{REPO}:v1")
    cluster.set_image("web", f"{REPO}:unready")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "KUBERNETES_"))}
    env.update(namespace.access_env())
    env.update(
        PLUGIN_KUBERNETES_SERVER=f"https://127.0.0.1:{proxy.port}",
        PLUGIN_DEPLOYMENTS="web",
        PLUGIN_TIMEOUT="60s",
        PLUGIN_REPORT_FILE=str(tmp_path / "report.json"),
        PYTHONPATH=str(REPO_ROOT),
    )
    step = subprocess.Popen(
        [sys.executable, "-m", "plugins.deployment_verify"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: proxy.accepted >= 3, 20, what="the plugin's watches through the proxy")
        time.sleep(0.5)
        before = proxy.accepted
        cutter = threading.Thread(target=proxy.cut, args=(2.0,))
        cutter.start()
        time.sleep(0.3)
        cluster.set_image("web", f"{REPO}:v2")  # fixed while the plugin is cut off
        cutter.join()
        out, _ = step.communicate(timeout=60)
    finally:
        if step.poll() is None:
            step.kill()
        proxy.close()
    assert step.returncode == 0, out
    assert proxy.accepted > before  # it reconnected
    assert "interrupted" in out and "resuming" in out
    assert report(tmp_path)["rollouts"]["web"]["revision"] == "3"
    assert namespace.token not in out
