"""Each declared type and format refuses what it should (exit 2 material) and takes what it should."""

from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.grammar import FORMATS, check_format
from shared.settings import Setting

INT = Setting("count", "int")
FLOAT = Setting("ratio", "float")
DURATION = Setting("timeout", "duration", maximum=600)
LIST = Setting("items", "list")
IMAGES = Setting("cache_from", "list", format="image")
MAP = Setting("labels", "map")
VALUES = Setting("values", "map", nested=True)
HEADERS = Setting("headers", "map", secret=True, format="header_value", key_format="header_name")
NAMESPACE = Setting("namespace", format="namespace")
TEXT = Setting("name")


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        pytest.param(INT, "٣", '"٣" is not a whole number (ASCII digits only)', id="arabic-indic-digit"),
        pytest.param(INT, "１２", "ASCII digits only", id="fullwidth-digits"),
        pytest.param(INT, "1_000", "is not a whole number", id="underscore"),
        pytest.param(INT, "1e23", '"1e23" is not a whole number', id="exponent"),
        pytest.param(INT, "9223372036854775808", "above the maximum 9223372036854775807", id="int64-max+1"),
        pytest.param(INT, "-9223372036854775809", "below the minimum", id="int64-min-1"),
        pytest.param(INT, "9" * 5000, "above the maximum", id="5000-digits"),
        pytest.param(FLOAT, "1e23", "above the maximum", id="float-beyond-int64"),
        pytest.param(FLOAT, "inf", "is not a number", id="inf"),
        pytest.param(FLOAT, "nan", "is not a number", id="nan"),
        pytest.param(FLOAT, "٣.5", "ASCII digits only", id="float-unicode-digit"),
        pytest.param(FLOAT, "1e999", "is not a number", id="float-overflow"),
        pytest.param(DURATION, "11m", "above the maximum 600s", id="duration-max"),
        pytest.param(DURATION, "٣s", "is not a duration", id="duration-unicode-digit"),
        pytest.param(DURATION, "9" * 400 + "h", "is not a duration", id="duration-huge"),
        pytest.param(LIST, '{"a":1}', "is a JSON object, not a list", id="object-for-list"),
        pytest.param(LIST, "[[1]]", "has a JSON list as an item", id="nested-list"),
        pytest.param(LIST, "[null]", "has a JSON null as an item", id="null-item"),
        pytest.param(LIST, "[1,", "is not a valid JSON list", id="broken-json"),
        pytest.param(LIST, "[" * 100_000, "too deep", id="deep-json"),
        pytest.param(LIST, "a,b\x1b[31m", '"a,b\\u001b[31m" has an item', id="escape-sequence-shown-escaped"),
        pytest.param(IMAGES, "nginx, Bad Image", 'has an item "Bad Image" that is not an image reference', id="image"),
        pytest.param(MAP, "[1, 2]", "is a JSON list of non-strings", id="map-from-number-list"),
        pytest.param(MAP, '{"a": {"b": 1}}', 'has a JSON object at key "a"', id="nested-map"),
        pytest.param(MAP, '{"": "x"}', "has an empty key", id="empty-key"),
        pytest.param(HEADERS, '{"X-Token": "a\\r\\nX-Evil: 1"}', "is not a header value", id="header-injection"),
        pytest.param(HEADERS, '{"Bad Header": "1"}', "is not an HTTP header name", id="header-name"),
        pytest.param(NAMESPACE, "n" * 64, "at most 63", id="namespace-64"),
        pytest.param(NAMESPACE, "Shop", "is not a namespace name", id="namespace-upper"),
        pytest.param(TEXT, "x" * 5000, "longer than 4096 characters", id="str-huge"),
        pytest.param(TEXT, "a\x00b", "control character U+0000", id="str-nul"),
    ],
)
def test_refused(setting: Setting, raw: str, message: str) -> None:
    with pytest.raises(SettingsError) as err:
        setting.parse(raw)
    text = str(err.value)
    assert text.startswith(f"{setting.env}: ") and message in text, text
    assert "\n" not in text and len(text) < 700


@pytest.mark.parametrize(
    ("setting", "raw", "expected"),
    [
        pytest.param(INT, "-9223372036854775808", -(2**63), id="int64-min"),
        pytest.param(INT, "007", 7, id="leading-zeros"),
        pytest.param(FLOAT, ".5", 0.5, id="float-leading-dot"),
        pytest.param(FLOAT, "1e3", 1000.0, id="float-exponent"),
        pytest.param(DURATION, "10m", 600.0, id="duration-at-max"),
        pytest.param(LIST, '["a", 1, true]', ["a", "1", "true"], id="json-scalars"),
        pytest.param(VALUES, '{"image": {"tag": "v1"}}', {"image": '{"tag": "v1"}'}, id="nested-values"),
        pytest.param(MAP, "a=1,b=é", {"a": "1", "b": "é"}, id="unicode-value"),
        pytest.param(HEADERS, "Authorization=Bearer abc", {"Authorization": "Bearer abc"}, id="header"),
    ],
)
def test_accepted(setting: Setting, raw: str, expected: object) -> None:
    assert setting.parse(raw) == expected


def test_secret_values_are_never_quoted() -> None:
    with pytest.raises(SettingsError) as err:
        HEADERS.parse('{"X-Token": "s3cret\\nX-Evil: 1"}')
    assert "s3cret" not in str(err.value)


GOOD = {
    "image": ["nginx", "127.0.0.1:5000/team/app:v1", "app@sha256:" + "a" * 64],
    "repository": ["127.0.0.1:5000/team/app", "team/app"],
    "registry": ["127.0.0.1:5000", "https://registry.example.com/"],
    "namespace": ["shop", "a" * 63],
    "deployment": ["web", "web.v2"],
    "workload": ["web", "deployment/web", "statefulset/db", "sts/db", "DaemonSet/agent", "ds/agent"],
    "route": ["web", "web.route"],
    "ingress": ["web"],
    "service": ["web", "a" * 63],
    "container": ["app"],
    "release": ["web", "w" * 53],
    "label_selector": ["app=web"],
    "pod_field_selector": ["spec.nodeName=n1"],
    "label": ["chaos", "shipline.io/chaos=enabled"],
    "http_url": ["http://127.0.0.1:8080/health", "https://user:pw@example.com"],
    "chart_repo_url": ["https://charts.example.com", "oci://registry.example.com/charts"],
    "docker_host": ["unix:///var/run/docker.sock", "tcp://docker:2375", "ssh://me@host"],
    "buildkit_addr": ["tcp://buildkitd:1234", "unix:///run/buildkit/buildkitd.sock"],
    "regex": ["ok|ready", "^web-[0-9]+$"],
    "header_name": ["X-Request-Id"],
    "header_value": ["Bearer x"],
    "values_key": ["image", "image.repository"],
    "env_name": ["GIT_TOKEN"],
    "tag": ["v1.2.3", "latest"],
    "tag_prefix": ["v"],
    "tag_suffix": ["-alpine"],
    "stage": ["runtime"],
    "network": ["host", "container:db"],
    "platform": ["linux/amd64", "linux/arm64/v8,linux/amd64"],
    "int_or_percent": ["1", "25%"],
    "helm_set": ["replicaCount=3", "a.b="],
    "version": ["1.2.3", ">=1.0.0 <2.0.0"],
    "manifest_entry": ["k8s/", "k8s/**/*.yaml", "/drone/src/k8s/app.yaml"],
    "path": ["values.yaml", "/" + "d/" * 1000],
}
BAD = {
    "image": ["Bad Image", "app:", "a" * 300],
    "repository": ["app:v1", "app@sha256:" + "a" * 64],
    "registry": ["reg.example/path", "not a host"],
    "namespace": ["Shop", "a" * 64, "-shop", "shop.prod"],
    "deployment": ["Web", "a" * 254, "web_app"],
    "workload": ["pod/web", "statefulset/", "sts/Db", "job/x", "a/b/c"],
    "ingress": ["web_1"],
    "route": ["Web", "web_route"],
    "service": ["1web", "web.v2", "a" * 64],
    "container": ["App"],
    "release": ["w" * 54, "Web"],
    "label_selector": ["app in (", "a b"],
    "pod_field_selector": ["foo=bar"],
    "label": ["chaos enabled", "a=b=c"],
    "http_url": ["ftp://x", "localhost:8080", "http://", "http://host:99999/"],
    "chart_repo_url": ["file:///charts"],
    "docker_host": ["/var/run/docker.sock", "tcp://", "tcp://host:port"],
    "buildkit_addr": ["buildkitd:1234", "ssh://me@host", "tcp://host:port"],
    "regex": ["(", "a{99999999999}"],
    "header_name": ["Bad Header", "X:Y"],
    "header_value": ["a\r\nb"],
    "values_key": ["a..b", ".a", "a b"],
    "env_name": ["1ABC", "A-B"],
    "tag": ["-v1", "t" * 129, "a/b"],
    "tag_prefix": ["-v", "a/b"],
    "tag_suffix": ["/x"],
    "stage": ["1st", "a b"],
    "network": ["my net", "-x"],
    "platform": ["Linux/AMD64", "linux/"],
    "int_or_percent": ["25.5%", "-1", "1" * 10],
    "helm_set": ["=1", "novalue"],
    "version": ["1.0\n"],
    "manifest_entry": ["/**/*.yaml", "../*.yaml", "k8s/../../*", "a" * 256],
    "path": ["a" * 256, "é" * 128, "d/" * 2048],
}


def test_every_format_has_cases() -> None:
    assert set(GOOD) == set(FORMATS) == set(BAD)


@pytest.mark.parametrize(("fmt", "value"), [(f, v) for f, vs in GOOD.items() for v in vs])
def test_format_accepts(fmt: str, value: str) -> None:
    assert check_format(fmt, value) == ""


@pytest.mark.parametrize(("fmt", "value"), [(f, v) for f, vs in BAD.items() for v in vs])
def test_format_refuses(fmt: str, value: str) -> None:
    assert check_format(fmt, value).startswith(("is ", "has ", "ends ", "expects ", "contains "))


def test_a_json_number_past_python_limits_is_refused_not_crashed() -> None:
    with pytest.raises(SettingsError, match="number too large"):
        LIST.parse("[" + "9" * 5000 + "]")
