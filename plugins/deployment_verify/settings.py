"""deployment-verify's settings, declared once."""

from __future__ import annotations

from shared import analysis, rollout
from shared.auth import KUBE_ACCESS
from shared.errors import SettingsError
from shared.handoff import DEFAULT_PUBLISH_FILE
from shared.settings import Declaration, Setting, Values, combine

ROLLOUT: tuple[Setting, ...] = (
    Setting("deployments", "list", [], "Deployments to verify, by name", format="deployment"),
    Setting(
        "workloads",
        "list",
        [],
        "Workloads to verify as kind/name: deployment/web, statefulset/db, daemonset/agent (a bare name is a "
        "Deployment)",
        format="workload",
    ),
    Setting(
        "label_selector",
        doc="Verify every Deployment, StatefulSet and DaemonSet matching this label selector instead (e.g. app=web)",
        format="label_selector",
    ),
    Setting(
        "namespace",
        doc="Namespace of the workloads (default: the kubeconfig context's, else `default`)",
        format="namespace",
    ),
    Setting("timeout", "duration", 300.0, "How long the rollouts may take, all together", minimum=1),
    *rollout.POD_HEALTH,
    Setting(
        "expected_image",
        doc="Every pod of the new ReplicaSet must run this image (by digest when it has one; default: the image "
        "in publish_file, when that file exists)",
        format="image",
    ),
    Setting(
        "publish_file", "path", DEFAULT_PUBLISH_FILE, "docker-publish-tagger's handoff file, read for expected_image"
    ),
)

HTTP: tuple[Setting, ...] = (
    Setting("urls", "list", [], "URLs to smoke-test with GET after the rollout", format="http_url"),
    Setting("expect_status", "int", 200, "The HTTP status every answer must have", minimum=100, maximum=599),
    Setting("expect_body", doc="A regular expression every answer's body must contain", format="regex"),
    Setting(
        "headers",
        "map",
        {},
        "Request headers sent with every request (JSON object or key=value list)",
        secret=True,
        format="header_value",
        key_format="header_name",
    ),
    Setting(
        "requests_per_url",
        "int",
        1,
        "Requests per URL (error rate and p95 latency come from these)",
        minimum=1,
        maximum=10_000,
    ),
    Setting("interval", "duration", 0.5, "Pause between two requests to the same URL", maximum=600),
    Setting(
        "request_timeout",
        "duration",
        5.0,
        "Timeout of one request (a timeout counts as an error)",
        minimum=0.001,
        maximum=600,
    ),
    Setting("max_error_rate", "float", 0.0, "Largest share of failed requests per URL, 0-1", minimum=0.0, maximum=1.0),
    Setting(
        "max_latency_ms",
        "float",
        None,
        "Largest p95 latency per URL, in milliseconds (unset: not checked)",
        minimum=0,
        maximum=3_600_000,
    ),
    Setting(
        "warmup_retries",
        "int",
        5,
        "Retries (with backoff) until a URL first answers as expected; not counted",
        minimum=0,
        maximum=100,
    ),
    Setting(
        "warmup_backoff",
        "duration",
        1.0,
        "First wait between warm-up retries; doubles each time, at most 10s",
        maximum=10,
    ),
)

CANARY: tuple[Setting, ...] = (
    Setting("baseline_url", doc="Canary analysis: the URL of the stable version", format="http_url"),
    Setting(
        "canary_url",
        doc="Canary analysis: the URL of the canary, measured alike (requests_per_url, interval)",
        format="http_url",
    ),
    Setting(
        "max_error_rate_increase",
        "float",
        0.0,
        "Canary: largest allowed rise of the error rate over the baseline's, 0-1",
        minimum=0.0,
        maximum=1.0,
    ),
    Setting(
        "max_latency_increase",
        "duration",
        0.25,
        "Canary: largest allowed rise of the p95 latency over the baseline's (e.g. 250ms)",
        maximum=600,
    ),
)

ANALYSIS: tuple[Setting, ...] = (
    *analysis.PROMETHEUS_ACCESS,
    *analysis.CHECKS,
    Setting(
        "analysis_baseline",
        doc="Analysis: the stable Deployment, for {{ stable }} and max_increase ({{ canary }} is the verified one)",
        format="deployment",
    ),
)

OUTCOME: tuple[Setting, ...] = (
    Setting("rollback_on_failure", "bool", False, "When a check fails, undo the workloads to their previous revision"),
    Setting("report_file", "path", None, "Write the checks as JSON here", output=True),
    Setting("junit_file", "path", None, "Write the checks as JUnit XML here (one testcase per check)", output=True),
    Setting("dry_run", "bool", False, "Print the plan and stop"),
)


def check_target(values: Values) -> None:
    if values.label_selector and (values.deployments or values.workloads):
        named = "PLUGIN_DEPLOYMENTS" if values.deployments else "PLUGIN_WORKLOADS"
        raise SettingsError(named, "set either deployments/workloads or label_selector, not both")
    if not values.deployments and not values.workloads and not values.label_selector:
        raise SettingsError(
            "PLUGIN_DEPLOYMENTS", "is required: name the Deployments to verify (or set workloads or label_selector)"
        )


def check_http(values: Values) -> None:
    if bool(values.baseline_url) != bool(values.canary_url):
        missing = "PLUGIN_CANARY_URL" if values.baseline_url else "PLUGIN_BASELINE_URL"
        raise SettingsError(missing, "is required for canary analysis (set both baseline_url and canary_url)")


def check_analysis(values: Values) -> None:
    if values.analysis and not values.prometheus_url:
        raise SettingsError("PLUGIN_PROMETHEUS_URL", "is required with analysis")
    if values.analysis and len(values.deployments) != 1:
        raise SettingsError("PLUGIN_ANALYSIS", "checks one Deployment ({{ canary }}): name exactly one in deployments")


DECLARATION = Declaration(
    "deployment-verify",
    combine(ROLLOUT, HTTP, CANARY, ANALYSIS, OUTCOME, KUBE_ACCESS),
    checks=(check_target, check_http, check_analysis),
)
