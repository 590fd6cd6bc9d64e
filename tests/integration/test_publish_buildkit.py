"""docker-publish-tagger with builder: buildkit, run as users run it (`docker run` of the image, workspace as the
runner leaves it) against the stack's buildkitd (tcp, mutual TLS with stack-CA certificates), its registry, and
its TLS registry (a certificate of the stack CA). What was pushed is read back through the registry API."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests
import yaml

from plugins.deployment_verify.__main__ import main as verify_main
from plugins.kubectl_helm_deploy.__main__ import main as deploy_main
from tests.certs import self_signed
from tests.harness import Harness

from . import realnode
from .test_images import run_plugin, workspace

SHA = "0123456789abcdef0123456789abcdef01234567"
TAG = "0123456789ab-7"
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


@pytest.fixture(scope="module")
def bk(stack: dict[str, str]) -> dict[str, str]:
    keys = ("BUILDKIT_ADDR", "REGISTRY_TLS", "REGISTRY_CA_FILE", "BUILDCTL_BIN", "BUILDKITD_BIN")
    missing = [k for k in keys if k not in stack]
    assert not missing, f".stack/env lacks {missing}: stack/buildkit.sh did not run (make up)"
    return stack


def buildkit_env(stack: Mapping[str, str], repo: str, **settings: str) -> dict[str, str]:
    """A Drone step's environment for builder buildkit on the stack's daemon, with its client certificate."""
    return {
        "DRONE": "true",
        "DRONE_BUILD_NUMBER": "7",
        "DRONE_COMMIT_SHA": SHA,
        "DRONE_COMMIT_BRANCH": "main",
        "PLUGIN_REPO": repo,
        "PLUGIN_USERNAME": stack["REGISTRY_USERNAME"],
        "PLUGIN_PASSWORD": stack["REGISTRY_PASSWORD"],
        "PLUGIN_BUILDER": "buildkit",
        "PLUGIN_BUILDKIT_ADDR": stack["BUILDKIT_ADDR"],
        "PLUGIN_BUILDKIT_CA": Path(stack["BUILDKIT_CA_FILE"]).read_text(),
        "PLUGIN_BUILDKIT_CERT": Path(stack["BUILDKIT_CERT_FILE"]).read_text(),
        "PLUGIN_BUILDKIT_KEY": Path(stack["BUILDKIT_KEY_FILE"]).read_text(),
        **settings,
    }


class Api:
    """The registry's HTTP API as a client outside the plugin sees it."""

    def __init__(self, stack: Mapping[str, str], host: str, ca: str = "") -> None:
        self.base = f"{'https' if ca else 'http'}://{host}/v2"
        self.auth = (stack["REGISTRY_USERNAME"], stack["REGISTRY_PASSWORD"])
        self.verify: str | bool = ca or True

    def get(self, path: str) -> requests.Response:
        resp = requests.get(
            f"{self.base}/{path}", auth=self.auth, headers={"Accept": ACCEPT}, verify=self.verify, timeout=30
        )
        resp.raise_for_status()
        return resp

    def tags(self, name: str) -> list[str]:
        resp = requests.get(f"{self.base}/{name}/tags/list", auth=self.auth, verify=self.verify, timeout=10)
        return [] if resp.status_code == 404 else sorted(resp.json().get("tags") or [])

    def blobs(self, name: str, reference: str) -> Iterator[bytes]:
        """Every manifest, config and layer (decompressed) reachable from `reference`, attestations included."""
        resp = self.get(f"{name}/manifests/{reference}")
        yield resp.content
        body = resp.json()
        for m in body.get("manifests") or []:
            yield from self.blobs(name, m["digest"])
        for d in [body["config"], *body.get("layers", [])] if "config" in body else []:
            blob = self.get(f"{name}/blobs/{d['digest']}").content
            yield gzip.decompress(blob) if d["mediaType"].endswith("gzip") else blob


def repo_in(host: str) -> str:
    return f"{host}/it-buildkit/app-{uuid.uuid4().hex[:8]}"


class Published(NamedTuple):
    stdout: str
    output: str  # stdout and stderr
    handoff: dict[str, Any]  # .shipline/publish.json; {} when the run failed


def publish(bk: Mapping[str, str], ws: Path, repo: str, code: int = 0, **settings: str) -> Published:
    """One docker-publish-tagger run with builder buildkit into `repo`, which must exit `code`."""
    done = run_plugin(bk, "docker-publish-tagger", buildkit_env(bk, repo, **settings), ws)
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    handoff = json.loads((ws / ".shipline/publish.json").read_text()) if code == 0 else {}
    return Published(done.stdout, output, handoff)


def test_secret_mounted_for_one_run_is_in_no_blob_and_no_log(images, bk: dict[str, str], tmp_path: Path) -> None:
    """`RUN --mount=type=secret,id=npm` with `secrets: npm=NPM_TOKEN`; the base image is pulled from the stack's
    registry with the step's credentials."""
    token = f"npm-token-{uuid.uuid4().hex}"
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text(
        f"FROM {bk['APP_IMAGE_REPO']}:healthy\nUSER 0\n"
        # A secret is not part of BuildKit's cache key: a command of its own keeps an earlier run's layer out.
        f"RUN --mount=type=secret,id=npm,required=true : {uuid.uuid4().hex} && "
        # ... and prints it, as a careless step would: the plugin's log masks it
        "sha256sum /run/secrets/npm | cut -c1-64 > /s && cat /run/secrets/npm\n"
    )
    repo = repo_in(bk["REGISTRY"])
    _, output, handoff = publish(bk, ws, repo, PLUGIN_SECRETS="npm=NPM_TOKEN", NPM_TOKEN=token)
    assert token not in output and bk["REGISTRY_PASSWORD"] not in output
    assert "secret      npm from $NPM_TOKEN" in output and "******" in output
    api = Api(bk, bk["REGISTRY"])
    name = repo.split("/", 1)[1]
    blobs = list(api.blobs(name, handoff["digest"]))
    assert len(blobs) > 4  # index, image manifest, config, layers, the attestation
    # The RUN step saw the secret (its hash is in the image), and nothing pushed holds the secret itself.
    assert any(hashlib.sha256(token.encode()).hexdigest().encode() in b for b in blobs)
    assert not [b[:80] for b in blobs if token.encode() in b]


def test_multi_platform_index_every_tag_and_the_handoff(images, bk: dict[str, str], tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "hello.txt").write_text(f"hello {uuid.uuid4()}\n")
    (ws / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /\n")
    repo = repo_in(bk["REGISTRY"])
    handoff = publish(bk, ws, repo, PLUGIN_PLATFORMS="linux/amd64,linux/arm64", PLUGIN_TAGS="edge").handoff
    api, name = Api(bk, bk["REGISTRY"]), repo.split("/", 1)[1]
    assert api.tags(name) == sorted([TAG, "edge"])
    for tag in (TAG, "edge"):
        assert api.get(f"{name}/manifests/{tag}").headers["Docker-Content-Digest"] == handoff["digest"]
    index = api.get(f"{name}/manifests/{handoff['digest']}").json()
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    images_ = {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
        if m.get("annotations", {}).get("vnd.docker.reference.type") != "attestation-manifest"
    }
    assert images_ == handoff["platforms"] and set(images_) == {"linux/amd64", "linux/arm64"}
    # provenance is on by default: BuildKit's attestation manifest for each platform, beside it in the index
    assert len(index["manifests"]) == 4
    for platform, digest in images_.items():
        manifest = api.get(f"{name}/manifests/{digest}").json()
        config = json.loads(api.get(f"{name}/blobs/{manifest['config']['digest']}").content)
        assert f"{config['os']}/{config['architecture']}" == platform


def test_cross_build_runs_on_the_build_platform_for_each_target(images, bk: dict[str, str], tmp_path: Path) -> None:
    """RUN steps in a multi-platform build without emulation: they run on $BUILDPLATFORM, once per target."""
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text(
        f"FROM --platform=$BUILDPLATFORM {bk['APP_IMAGE_REPO']}:healthy AS build\nUSER 0\nARG TARGETARCH\n"
        f'RUN echo "{uuid.uuid4().hex} built on $(uname -m) for $TARGETARCH" > /arch.txt\n'
        "FROM scratch\nCOPY --from=build /arch.txt /\n"
    )
    repo = repo_in(bk["REGISTRY"])
    handoff = publish(bk, ws, repo, PLUGIN_PLATFORMS="linux/amd64,linux/arm64", PLUGIN_PROVENANCE="false").handoff
    api, name = Api(bk, bk["REGISTRY"]), repo.split("/", 1)[1]
    for platform, digest in handoff["platforms"].items():
        arch = platform.split("/")[1].encode()
        assert any(b"built on x86_64 for " + arch + b"\n" in blob for blob in api.blobs(name, digest)), platform


@pytest.fixture
def fresh_buildkitd(bk: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A brand-new BuildKit daemon (empty state, unix socket): the ephemeral runner of the next pipeline."""
    root = tmp_path_factory.mktemp("buildkitd")
    sock = root / "buildkitd.sock"
    daemon = bk["BUILDKITD_BIN"]
    proc = subprocess.Popen(
        [
            daemon,
            "--root",
            str(root / "state"),
            "--addr",
            f"unix://{sock}",
            "--oci-worker-snapshotter",
            "native",
            "--containerd-worker",
            "false",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(root / "log").open("w"),
    )
    try:
        check = [bk["BUILDCTL_BIN"], "--addr", f"unix://{sock}", "debug", "workers"]
        for _ in range(60):
            if subprocess.run(check, capture_output=True, check=False).returncode == 0:
                break
            assert proc.poll() is None, (root / "log").read_text()[-2000:]
            subprocess.run(["sleep", "0.25"], check=True)
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_registry_cache_lets_a_fresh_builder_reuse_every_step(
    images, bk: dict[str, str], tmp_path: Path, fresh_buildkitd: Path
) -> None:
    ws = workspace(tmp_path)
    for name in ("a.txt", "b.txt"):
        (ws / name).write_text(f"{name} {uuid.uuid4()}\n")
    (ws / "Dockerfile").write_text("FROM scratch AS base\nCOPY a.txt /a\nFROM base\nCOPY b.txt /b\n")
    repo = repo_in(bk["REGISTRY"])
    cache = f"type=registry,ref={repo}:buildcache"
    first = publish(bk, ws, repo, PLUGIN_CACHE_TO=cache + ",mode=max")
    assert "cached: 0 of 2 Dockerfile steps" in first.stdout
    # The next pipeline: another builder that has never seen this build, reached over its unix socket.
    second_env = buildkit_env(
        bk,
        repo,
        PLUGIN_CACHE_FROM=cache,
        DRONE_BUILD_NUMBER="8",
        PLUGIN_BUILDKIT_ADDR=f"unix://{fresh_buildkitd}",
        PLUGIN_BUILDKIT_CA="",
        PLUGIN_BUILDKIT_CERT="",
        PLUGIN_BUILDKIT_KEY="",
    )
    second = run_plugin(bk, "docker-publish-tagger", second_env, ws, volumes=[fresh_buildkitd.parent])
    assert second.returncode == 0, second.stdout + second.stderr
    assert "cached: 2 of 2 Dockerfile steps" in second.stdout


def test_wrong_client_certificate_exits_1_naming_tls(images, bk: dict[str, str], tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    certs = tmp_path / "certs"
    certs.mkdir()
    cert = self_signed(certs, "intruder")  # a client certificate the daemon's CA never signed
    repo = repo_in(bk["REGISTRY"])
    key = cert.with_suffix(".key").read_text()
    done = publish(bk, ws, repo, 1, PLUGIN_BUILDKIT_CERT=cert.read_text(), PLUGIN_BUILDKIT_KEY=key)
    last = done.stdout.strip().splitlines()[-1]
    assert "TLS handshake failed" in last and bk["BUILDKIT_ADDR"] in last and "buildkit_cert" in last
    assert "\n== build\n" not in done.stdout
    assert Api(bk, bk["REGISTRY"]).tags(repo.split("/", 1)[1]) == []


def test_tls_registry_with_registry_ca_and_without(images, bk: dict[str, str], tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    repo = repo_in(bk["REGISTRY_TLS"])
    name = repo.split("/", 1)[1]
    api = Api(bk, bk["REGISTRY_TLS"], ca=bk["REGISTRY_CA_FILE"])
    refused = publish(bk, ws, repo, 1)
    last = refused.stdout.strip().splitlines()[-1]
    assert "certificate is not trusted" in last and "registry_ca" in last and bk["REGISTRY_TLS"] in last
    assert api.tags(name) == []
    ca = Path(bk["REGISTRY_CA_FILE"]).read_text()
    handoff = publish(bk, ws, repo, PLUGIN_REGISTRY_CA=ca).handoff
    assert api.get(f"{name}/manifests/{TAG}").headers["Docker-Content-Digest"] == handoff["digest"]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        pytest.param({"PLUGIN_PLATFORMS": "linux/amd64,plan9/z80"}, "PLUGIN_PLATFORMS", id="unknown-platform"),
        pytest.param({"PLUGIN_SECRETS": "npm"}, "PLUGIN_SECRETS", id="malformed-secret"),
        pytest.param({"PLUGIN_SECRETS": "npm=NPM_TOKEN_UNSET"}, "PLUGIN_SECRETS", id="secret-env-unset"),
        pytest.param({"PLUGIN_CACHE_TO": "type=ftp,ref=x"}, "PLUGIN_CACHE_TO", id="cache-type"),
    ],
)
def test_bad_input_exits_2_before_any_build(
    images, bk: dict[str, str], tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text("FROM scratch\nCOPY Dockerfile /\n")
    repo = repo_in(bk["REGISTRY"])
    done = publish(bk, ws, repo, 2, **settings)
    assert named in done.output.strip().splitlines()[-1]
    assert "\n== build\n" not in done.stdout and "== plan" not in done.stdout
    assert Api(bk, bk["REGISTRY"]).tags(repo.split("/", 1)[1]) == []


@pytest.mark.real_node
def test_an_index_from_buildkit_is_deployed_and_verified_by_its_digest(
    images, bk: dict[str, str], tmp_path: Path, deployer: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handoff's digest is an index (provenance makes one even for one platform): kubectl-helm-deploy runs it
    on the real node, and deployment-verify finds the pods running exactly it."""
    ws = workspace(tmp_path)
    (ws / "Dockerfile").write_text(f"FROM {bk['APP_IMAGE_REPO']}:healthy\nLABEL shipline.test={uuid.uuid4().hex}\n")
    repo = repo_in(bk["REGISTRY"])
    handoff = publish(bk, ws, repo).handoff
    assert list(handoff["platforms"]) == ["linux/amd64"]
    (ws / "k8s").mkdir()
    web = realnode.deployment("web", realnode.image(bk, "healthy"), replicas=1)
    (ws / "k8s" / "web.yaml").write_text(yaml.safe_dump(web))
    monkeypatch.chdir(ws)
    deployed = deployer.run(deploy_main, manifests="k8s", timeout="120s")
    assert deployed.code == 0, deployed.out
    verified = deployer.run(verify_main, deployments="web", timeout="120s")
    assert verified.code == 0, verified.out
    assert f"every new pod must run {handoff['image']} (.shipline/publish.json)" in verified.out
