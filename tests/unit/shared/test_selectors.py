"""Label and field selectors with Kubernetes' grammar: good and bad, as tables."""

from __future__ import annotations

from collections.abc import Callable

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
    ("parse", "selector", "message"),
    [
        pytest.param(parse_label_selector, "app=web,", 'ends with ","', id="trailing-comma"),
        pytest.param(parse_label_selector, "app=web,,tier=db", "expects a label key", id="empty-term"),
        pytest.param(parse_label_selector, "=web", "expects a label key", id="no-key"),
        pytest.param(parse_label_selector, "app in (web", "ends in the middle", id="unclosed-set"),
        pytest.param(parse_label_selector, "app in ()", "empty value set", id="empty-set"),
        pytest.param(parse_label_selector, "app in web", "after in", id="set-without-parens"),
        pytest.param(parse_label_selector, "app=web tier=db", 'expects ","', id="missing-comma"),
        pytest.param(parse_label_selector, "app=" + "v" * 64, "is not a label value", id="value-64"),
        pytest.param(parse_label_selector, "k" * 64 + "=v", "is not a label key", id="key-64"),
        pytest.param(parse_label_selector, "Bad_Prefix/app=v", "prefix that is not a DNS subdomain", id="bad-prefix"),
        pytest.param(parse_label_selector, "app=-web", "is not a label value", id="value-starts-with-dash"),
        pytest.param(parse_label_selector, "replicas>two", "needs a whole number", id="gt-text"),
        pytest.param(parse_label_selector, "app=web\n", "control character", id="newline"),
        pytest.param(parse_label_selector, "app=" + "x" * 5000, "at most 4096", id="huge"),
        pytest.param(parse_label_selector, "app=wéb", "is not a label value", id="unicode"),
        pytest.param(
            parse_field_selector, "spec.color=red", "not a field the API server can select on", id="unknown-field"
        ),
        pytest.param(parse_field_selector, "spec.nodeName", "is not field=value", id="no-operator"),
        pytest.param(parse_field_selector, "spec.nodeName=a=b", 'unescaped "="', id="unescaped-equals"),
        pytest.param(parse_field_selector, "spec.nodeName=a\\x", "invalid escape", id="bad-escape"),
        pytest.param(parse_field_selector, "spec.nodeName=a,", "empty term", id="field-trailing-comma"),
        pytest.param(parse_field_selector, "spec.nodeName=\x07", "control character", id="field-control"),
    ],
)
def test_bad_selectors(parse: Callable[[str], object], selector: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(selector)
