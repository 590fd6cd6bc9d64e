from __future__ import annotations

import base64
import io
import json
import stat
from pathlib import Path

import pytest
import yaml

from shared.auth import KUBE_ACCESS, REGISTRY_ACCESS, SecretDir, decode_ca, kube_access, registry_auth
from shared.errors import SettingsError
from shared.log import Log
from shared.settings import Declaration
from tests.certs import self_signed


@pytest.fixture(scope="module")
def pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    return self_signed(tmp_path_factory.mktemp("ca"), "test-ca").read_text()


def test_ca_as_pem(pem: str) -> None:
    assert decode_ca(pem) == pem.strip() + "\n"


def test_ca_as_base64(pem: str) -> None:
    assert decode_ca(base64.b64encode(pem.encode()).decode()) == pem.strip() + "\n"


def test_ca_as_wrapped_base64(pem: str) -> None:
    encoded = base64.encodebytes(pem.encode()).decode()  # 76-column lines, as `base64` prints
    assert decode_ca(encoded) == pem.strip() + "\n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("not a certificate!", "is neither a PEM certificate nor base64-encoded PEM", id="garbage"),
        pytest.param(base64.b64encode(b"hello").decode(), "what it encodes is not a PEM certificate", id="b64-not-pem"),
    ],
)
def test_ca_garbage(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message) as err:
        decode_ca(value)
    assert str(err.value).startswith("PLUGIN_KUBERNETES_CERT: ")


DECL = Declaration("x", KUBE_ACCESS)


def access(env: dict[str, str], secrets: SecretDir, log: Log | None = None):
    return kube_access(DECL.load(env), secrets, log or Log(io.StringIO()), env={})


def test_three_secrets_become_a_private_kubeconfig(pem: str) -> None:
    with SecretDir() as secrets:
        result = access(
            {
                "PLUGIN_KUBERNETES_SERVER": "https://127.0.0.1:6443/",
                "PLUGIN_KUBERNETES_CERT": pem,
                "PLUGIN_KUBERNETES_TOKEN": "tok-abc123\n",
            },
            secrets,
        )
        assert result.server == "https://127.0.0.1:6443"
        assert stat.S_IMODE(secrets.path.stat().st_mode) == 0o700
        for f in secrets.path.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
        config = yaml.safe_load(result.kubeconfig.read_text())
        assert "tok-abc123" not in result.kubeconfig.read_text()  # the token lives in its own file
        token_file = Path(config["users"][0]["user"]["tokenFile"])
        assert token_file.read_text() == "tok-abc123"
        assert Path(config["clusters"][0]["cluster"]["certificate-authority"]).read_text().startswith("-----BEGIN")
    assert not secrets.path.exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, "PLUGIN_KUBERNETES_SERVER: no cluster access configured", id="nothing"),
        pytest.param({"PLUGIN_KUBERNETES_TOKEN": "t"}, "PLUGIN_KUBERNETES_SERVER: is required", id="no-server"),
        pytest.param({"PLUGIN_KUBERNETES_SERVER": "https://h"}, "PLUGIN_KUBERNETES_TOKEN: is required", id="no-token"),
        pytest.param(
            {"PLUGIN_KUBERNETES_SERVER": "h:6443", "PLUGIN_KUBERNETES_TOKEN": "t"},
            "is not an http(s) URL",
            id="not-url",
        ),
        pytest.param(
            {"PLUGIN_KUBERNETES_SERVER": "https://h", "PLUGIN_KUBERNETES_TOKEN": "t"},
            "PLUGIN_KUBERNETES_CERT: is required",
            id="no-ca",
        ),
        pytest.param({"PLUGIN_KUBECONFIG": "{{{"}, "PLUGIN_KUBECONFIG: is not valid YAML", id="kubeconfig-yaml"),
        pytest.param({"PLUGIN_KUBECONFIG": "a: 1"}, "is not a kubeconfig", id="kubeconfig-shape"),
    ],
)
def test_bad_access_settings(env: dict[str, str], message: str) -> None:
    with SecretDir() as secrets, pytest.raises(SettingsError) as err:
        access(env, secrets)
    assert message in str(err.value)


def test_skip_tls_verify_warns_and_needs_no_ca() -> None:
    out = io.StringIO()
    with SecretDir() as secrets:
        result = access(
            {
                "PLUGIN_KUBERNETES_SERVER": "https://h:1",
                "PLUGIN_KUBERNETES_TOKEN": "t",
                "PLUGIN_SKIP_TLS_VERIFY": "true",
            },
            secrets,
            Log(out),
        )
        assert result.insecure
        assert yaml.safe_load(result.kubeconfig.read_text())["clusters"][0]["cluster"]["insecure-skip-tls-verify"]
    assert "warning: skip_tls_verify is on" in out.getvalue()


def test_whole_kubeconfig_with_context() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "a",
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://one"}},
            {"name": "c2", "cluster": {"server": "https://two"}},
        ],
        "contexts": [
            {"name": "a", "context": {"cluster": "c1", "user": "u"}},
            {"name": "b", "context": {"cluster": "c2", "user": "u", "namespace": "apps"}},
        ],
        "users": [{"name": "u", "user": {"token": "x"}}],
    }
    with SecretDir() as secrets:
        result = access({"PLUGIN_KUBECONFIG": yaml.safe_dump(config), "PLUGIN_KUBE_CONTEXT": "b"}, secrets)
        assert (result.server, result.namespace) == ("https://two", "apps")
        with pytest.raises(SettingsError, match='PLUGIN_KUBE_CONTEXT: "zzz" is not a context'):
            access({"PLUGIN_KUBECONFIG": yaml.safe_dump(config), "PLUGIN_KUBE_CONTEXT": "zzz"}, secrets)


REG = Declaration("x", REGISTRY_ACCESS)


def test_registry_auth_from_username_password() -> None:
    values = REG.load({"PLUGIN_USERNAME": "ci", "PLUGIN_PASSWORD": "pw"})
    assert registry_auth(values, "r:5000") == {"username": "ci", "password": "pw", "serveraddress": "r:5000"}


def test_registry_auth_half_given() -> None:
    with pytest.raises(SettingsError, match="PLUGIN_PASSWORD: is required"):
        registry_auth(REG.load({"PLUGIN_USERNAME": "ci"}), "r:5000")


def test_registry_auth_from_docker_config() -> None:
    config = json.dumps(
        {
            "auths": {
                "https://other:5000": {"auth": base64.b64encode(b"o:p").decode()},
                "r:5000": {"auth": base64.b64encode(b"ci:pa:ss").decode()},
            }
        }
    )
    values = REG.load({"PLUGIN_DOCKER_CONFIG": config})
    assert registry_auth(values, "r:5000") == {"username": "ci", "password": "pa:ss", "serveraddress": "r:5000"}
    assert registry_auth(values, "other:5000")["username"] == "o"
    assert registry_auth(values, "none:1") is None
    with pytest.raises(SettingsError, match="PLUGIN_DOCKER_CONFIG"):
        registry_auth(REG.load({"PLUGIN_DOCKER_CONFIG": "nope"}), "r:5000")
