"""Label and field selectors with Kubernetes' grammar: good and bad, as tables."""

from __future__ import annotations

import pytest

from shared.selectors import Requirement, parse_field_selector, parse_label_selector


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("app=web", [Requirement("app", "=", ("web",))], id="equals"),
        pytest.param("app==web", [Requirement("app", "==", ("web",))], id="double-equals"),
        pytest.param("tier!=db", [Requirement("tier", "!=", ("db",))], id="not-equals"),
        pytest.param("app", [Requirement("app", "exists")], id="exists"),
        pytest.param("!canary", [Requirement("canary", "!")], id="not-exists"),
        pytest.param(
            " app in (web, api) , env notin (dev)",
            [Requirement("app", "in", ("web", "api")), Requirement("env", "notin", ("dev",))],
            id="sets-with-spaces",
        ),
        pytest.param("shipline.io/chaos=enabled", [Requirement("shipline.io/chaos", "=", ("enabled",))], id="prefix"),
        pytest.param("app=", [Requirement("app", "=", ("",))], id="empty-value"),
        pytest.param("replicas>2", [Requirement("replicas", ">", ("2",))], id="gt"),
        pytest.param("", [], id="empty"),
    ],
)
def test_label_selectors(selector: str, expected: list[Requirement]) -> None:
    assert parse_label_selector(selector) == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        pytest.param("app=web,", 'ends with ","', id="trailing-comma"),
        pytest.param("app=web,,tier=db", "expects a label key", id="empty-term"),
        pytest.param("=web", "expects a label key", id="no-key"),
        pytest.param("app in (web", "ends in the middle", id="unclosed-set"),
        pytest.param("app in ()", "empty value set", id="empty-set"),
        pytest.param("app in web", "after in", id="set-without-parens"),
        pytest.param("app=web tier=db", 'expects ","', id="missing-comma"),
        pytest.param("app=" + "v" * 64, "is not a label value", id="value-64"),
        pytest.param("k" * 64 + "=v", "is not a label key", id="key-64"),
        pytest.param("Bad_Prefix/app=v", "prefix that is not a DNS subdomain", id="bad-prefix"),
        pytest.param("app=-web", "is not a label value", id="value-starts-with-dash"),
        pytest.param("replicas>two", "needs a whole number", id="gt-text"),
        pytest.param("app=web\n", "control character", id="newline"),
        pytest.param("app=" + "x" * 5000, "at most 4096", id="huge"),
        pytest.param("app=wéb", "is not a label value", id="unicode"),
    ],
)
def test_bad_label_selectors(selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_label_selector(selector)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param("spec.nodeName=node-1", [("spec.nodeName", "=", "node-1")], id="equals"),
        pytest.param(
            "status.phase!=Failed,metadata.name==a\\,b",
            [("status.phase", "!=", "Failed"), ("metadata.name", "==", "a,b")],
            id="escaped-comma",
        ),
        pytest.param("", [], id="empty"),
    ],
)
def test_field_selectors(selector: str, expected: list[tuple[str, str, str]]) -> None:
    assert parse_field_selector(selector) == expected


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        pytest.param("spec.color=red", "not a field the API server can select on", id="unknown-field"),
        pytest.param("spec.nodeName", "is not field=value", id="no-operator"),
        pytest.param("spec.nodeName=a=b", 'unescaped "="', id="unescaped-equals"),
        pytest.param("spec.nodeName=a\\x", "invalid escape", id="bad-escape"),
        pytest.param("spec.nodeName=a,", "empty term", id="trailing-comma"),
        pytest.param("spec.nodeName=\x07", "control character", id="control"),
    ],
)
def test_bad_field_selectors(selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_field_selector(selector)
