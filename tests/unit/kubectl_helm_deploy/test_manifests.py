from __future__ import annotations

from pathlib import Path

import pytest

from plugins.kubectl_helm_deploy.manifests import Manifest, find_files, load, order, parse_documents, substitute
from shared.errors import SettingsError

ENV = {"APP": "web", "TAG": "v2", "EMPTY": ""}


# Text as written -> text as applied (with ENV).
SUBSTITUTED = {
    "name: ${APP}": "name: web",
    "image: r/${APP}:${TAG}": "image: r/web:v2",
    "x: ${EMPTY}": "x: ",  # set but empty is fine
    "x: ${MISSING:-dflt}": "x: dflt",
    "x: ${MISSING:-}": "x: ",  # an explicit empty default
    "x: $${APP}": "x: ${APP}",  # escaped
    "x: $APP": "x: $APP",  # a bare $ is left alone
    "x: ${APP:-other}": "x: web",  # set wins over the default
}


@pytest.mark.parametrize(("text", "expected"), SUBSTITUTED.items())
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, ENV, "f.yaml") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: ${NOPE}", "f.yaml:1: ${NOPE} is not set", id="first-line"),
        pytest.param("a: 1\nb: 2\nc: ${X_Y}", "f.yaml:3: ${X_Y} is not set", id="names-line"),
    ],
)
def test_substitute_unset(text: str, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        substitute(text, ENV, "f.yaml")
    assert e.value.setting == "PLUGIN_MANIFESTS"
    assert message in str(e.value)


DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
SVC = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n"


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        pytest.param(DEPLOY, ["Deployment"], id="one"),
        pytest.param(DEPLOY + "---\n" + SVC, ["Deployment", "Service"], id="multi-doc"),
        pytest.param("---\n" + DEPLOY + "---\n---\n", ["Deployment"], id="empty-docs-skipped"),
        pytest.param(
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n",
            ["ConfigMap"],
            id="list-expanded",
        ),
    ],
)
def test_parse_documents(text: str, kinds: list[str]) -> None:
    assert [m.kind for m in parse_documents(text, "f.yaml")] == kinds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a: [1, 2\nb: 3", "f.yaml:", id="malformed"),
        pytest.param("- just\n- a list\n", "is not a Kubernetes object", id="not-a-mapping"),
        pytest.param("kind: Service\nmetadata: {name: a}\n", "has no apiVersion", id="no-apiversion"),
        pytest.param("apiVersion: v1\nmetadata: {name: a}\n", "has no kind", id="no-kind"),
        pytest.param("apiVersion: v1\nkind: Service\nmetadata: {}\n", "has no metadata.name", id="no-name"),
    ],
)
def test_parse_documents_errors(text: str, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        parse_documents(text, "f.yaml")
    assert message in str(e.value) and "PLUGIN_MANIFESTS" in str(e.value)


def _m(kind: str, name: str = "x") -> Manifest:
    return Manifest("f", {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}})


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        pytest.param(
            ["Deployment", "Service", "ConfigMap", "Namespace"],
            ["Namespace", "ConfigMap", "Service", "Deployment"],
            id="dependencies-first",
        ),
        pytest.param(
            ["Ingress", "Deployment", "Secret", "ServiceAccount", "RoleBinding", "Role"],
            ["ServiceAccount", "Role", "RoleBinding", "Secret", "Deployment", "Ingress"],
            id="rbac-before-config-before-workloads",
        ),
        pytest.param(
            ["Widget", "Deployment", "CustomResourceDefinition"],
            ["CustomResourceDefinition", "Deployment", "Widget"],
            id="unknown-last",
        ),
    ],
)
def test_order(kinds: list[str], expected: list[str]) -> None:
    assert [m.kind for m in order([_m(k) for k in kinds])] == expected


def test_order_is_stable() -> None:
    ms = [_m("Service", "b"), _m("Service", "a")]
    assert [m.name for m in order(ms)] == ["b", "a"]


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "b.yaml").write_text(SVC)
    (tmp_path / "k8s" / "a.yml").write_text(DEPLOY)
    (tmp_path / "k8s" / "notes.txt").write_text("not yaml")
    (tmp_path / "k8s" / "sub").mkdir()
    (tmp_path / "k8s" / "sub" / "c.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    return tmp_path


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param(["k8s"], ["k8s/a.yml", "k8s/b.yaml"], id="directory-not-recursive"),
        pytest.param(["k8s/b.yaml"], ["k8s/b.yaml"], id="file"),
        pytest.param(["k8s/*.yaml"], ["k8s/b.yaml"], id="glob"),
        pytest.param(["k8s/**/*.yaml"], ["k8s/b.yaml", "k8s/sub/c.yaml"], id="recursive-glob"),
        pytest.param(["k8s/b.yaml", "k8s"], ["k8s/b.yaml", "k8s/a.yml"], id="each-once"),
    ],
)
def test_find_files(tmp_path: Path, entries: list[str], expected: list[str]) -> None:
    root = _tree(tmp_path)
    assert [str(p.relative_to(root)) for p in find_files(entries, root)] == expected


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        pytest.param(["nope.yaml"], '"nope.yaml" does not exist', id="missing"),
        pytest.param(["k8s/*.json"], "matches no manifest files", id="glob-no-match"),
        pytest.param(["k8s/sub/.."], None, id="dir-ok"),
    ],
)
def test_find_files_errors(tmp_path: Path, entries: list[str], message: str | None) -> None:
    root = _tree(tmp_path)
    if message is None:
        assert find_files(entries, root)
        return
    with pytest.raises(SettingsError, match="PLUGIN_MANIFESTS") as e:
        find_files(entries, root)
    assert message in str(e.value)


def test_load_orders_and_substitutes(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(DEPLOY.replace("web", "${APP}") + "---\n" + SVC)
    loaded = load(["all.yaml"], ENV, tmp_path)
    assert [(m.kind, m.name, m.source) for m in loaded] == [
        ("Service", "web", "all.yaml#2"),
        ("Deployment", "web", "all.yaml#1"),
    ]


def test_load_rejects_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SVC)
    (tmp_path / "b.yaml").write_text(SVC)
    with pytest.raises(SettingsError, match="also defined in a.yaml#1"):
        load(["a.yaml", "b.yaml"], ENV, tmp_path)


def test_load_unset_variable_names_file(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(DEPLOY + "spec: {x: '${UNSET_THING}'}\n")
    with pytest.raises(SettingsError, match=r"d.yaml:4: \$\{UNSET_THING\} is not set"):
        load(["d.yaml"], ENV, tmp_path)
