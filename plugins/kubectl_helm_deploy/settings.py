"""kubectl-helm-deploy's settings, declared once."""

from __future__ import annotations

from pathlib import Path

from shared import analysis, rollout
from shared.auth import KUBE_ACCESS
from shared.errors import SettingsError
from shared.handoff import DEFAULT_PUBLISH_FILE
from shared.settings import Declaration, Setting, Values, combine

STRATEGIES = ("rolling", "blue-green", "canary")
CANARY_ACTIONS = ("start", "promote", "abort")

TARGET: tuple[Setting, ...] = (
    Setting(
        "namespace",
        doc="Namespace to deploy into (default: the kubeconfig context's, else `default`)",
        format="namespace",
    ),
    Setting("image", doc="Image to deploy (default: repo@digest from publish_file, what was built)", format="image"),
    Setting(
        "publish_file",
        "path",
        DEFAULT_PUBLISH_FILE,
        "The handoff file of docker-publish-tagger, read when image is unset",
    ),
    Setting(
        "containers",
        "list",
        [],
        "Containers to give the image (default: those running the image's repository, or the only container "
        "of the deployment)",
        format="container",
    ),
    Setting(
        "deployment",
        doc="The Deployment to roll (default: the only Deployment in the manifests or chart)",
        format="deployment",
    ),
)

MANIFESTS: tuple[Setting, ...] = (
    Setting(
        "manifests",
        "list",
        [],
        "Manifest files, directories and globs (multi-document YAML)",
        format="manifest_entry",
    ),
    Setting(
        "force_conflicts",
        "bool",
        True,
        "Apply takes over fields another manager changed (a rollback, kubectl edit)",
    ),
    Setting("prune", "bool", False, "Delete objects labelled with this deployment that are no longer in the manifests"),
)

HELM: tuple[Setting, ...] = (
    Setting("chart", doc="Chart: a local path, `repo/name`, a name with repo_url, or `oci://...`; selects helm mode"),
    Setting("release", doc="Release name (default: the chart's name)", format="release"),
    Setting("chart_version", doc="Chart version (default: the newest)", format="version"),
    Setting("repo_url", doc="Chart repository URL, when chart is a bare name", format="chart_repo_url"),
    Setting("values", "map", {}, "Chart values (JSON object, or key=value list)", key_format="values_key", nested=True),
    Setting("values_files", "list", [], "Values files, merged in order before values and set", format="path"),
    Setting("set", "list", [], "Values as dotted key=value (e.g. replicaCount=3), applied last", format="helm_set"),
    Setting(
        "image_value",
        doc="Dotted values key that receives the image reference (e.g. image); empty: not injected",
        format="values_key",
    ),
    Setting("helm_lint", "bool", True, "Run `helm lint` first; a failing lint is an input error, nothing deployed"),
    Setting("atomic", "bool", False, "Pass --atomic to helm (helm waits and rolls back by itself)"),
    Setting(
        "helm_test",
        "bool",
        False,
        "Run the chart's test hooks (`helm test`) after the rollout; a failing test is a failed rollout",
    ),
    Setting("create_namespace", "bool", False, "Let helm create the namespace (needs cluster rights)"),
    Setting("helm_bin", default="helm", doc="The helm executable", fallback=("HELM_BIN",)),
)

STRATEGY: tuple[Setting, ...] = (
    Setting("strategy", default="rolling", doc="How the new version replaces the old", choices=STRATEGIES),
    Setting(
        "max_surge",
        doc="Rolling: pods above the desired count during the rollout (number or percent)",
        format="int_or_percent",
    ),
    Setting(
        "max_unavailable",
        doc="Rolling: pods that may be unavailable during the rollout (number or percent)",
        format="int_or_percent",
    ),
    Setting("wait", "bool", True, "Wait for the rollout to complete (kubectl's rules, failing fast on crashing pods)"),
    Setting("timeout", "duration", 300.0, "How long a rollout may take", minimum=1),
    Setting("rollback_on_failure", "bool", True, "Undo a failed rollout (helm rollback for a release) and wait for it"),
    *rollout.POD_HEALTH,
    Setting(
        "service", doc="Blue/green: the Service that carries traffic; canary: the stable Service", format="service"
    ),
    Setting(
        "preview_service", doc="Blue/green: a Service pointed at the new colour before the switch", format="service"
    ),
    Setting("scale_down_delay", "duration", 30.0, "Blue/green: how long the previous colour stays up after the switch"),
    Setting("keep_previous", "bool", False, "Blue/green: keep the previous colour running (no scale-down)"),
    Setting(
        "canary_weight", "int", 10, "Canary: percent of the stable replicas the canary gets", minimum=1, maximum=100
    ),
    Setting(
        "canary_steps",
        "json_list",
        [],
        'Canary: weights to step through, e.g. 10,50,100 (100 promotes), or JSON steps {"weight": 10, "pause": '
        '"5m" or "until promoted", "analysis_interval": "1m"}',
    ),
    Setting("step_pause", "duration", 0.0, "Canary: pause after each step (a step's own pause wins)"),
    Setting(
        "canary_action",
        default="start",
        doc="Canary: what to do; promote resumes a canary paused until promoted, else promotes it",
        choices=CANARY_ACTIONS,
    ),
    Setting("canary_ingress", doc="Canary: an Ingress to copy with ingress-nginx canary annotations", format="ingress"),
    Setting(
        "canary_route",
        doc="Canary: a Gateway API HTTPRoute whose backend weights split traffic exactly (stable Service vs "
        "<service>-canary)",
        format="route",
    ),
    Setting(
        "max_weight_error",
        "int",
        10,
        "Canary without a router: how many points the replica ratio may be off the asked weight",
        minimum=0,
        maximum=100,
    ),
    Setting(
        "allow_replica_rounding", "bool", False, "Canary: accept a replica ratio off by more than max_weight_error"
    ),
)

OUTPUT: tuple[Setting, ...] = (
    Setting("dry_run", "bool", False, "Server-side dry run: print the plan and a diff per object, change nothing"),
    Setting(
        "report_file",
        "path",
        Path(".shipline/deploy.json"),
        "JSON report of what was applied and what serves",
        output=True,
    ),
    Setting("junit_file", "path", None, "Canary analysis runs as JUnit XML (one testcase per run)", output=True),
)


def check_mode(values: Values) -> None:
    if values.manifests and values.chart:
        raise SettingsError("PLUGIN_CHART", "set either manifests or chart, not both")
    if not values.manifests and not values.chart:
        raise SettingsError("PLUGIN_MANIFESTS", "is required (or chart, for helm mode)")
    if values.chart and values.strategy != "rolling":
        raise SettingsError("PLUGIN_STRATEGY", f'"{values.strategy}" needs manifests mode; a chart rolls by itself')


def check_strategy(values: Values) -> None:
    if values.strategy == "blue-green" and not values.service:
        raise SettingsError("PLUGIN_SERVICE", "is required with strategy blue-green")
    for router in ("canary_ingress", "canary_route"):
        if getattr(values, router) and not values.service:
            raise SettingsError("PLUGIN_SERVICE", f"is required with {router}")
    if values.canary_ingress and values.canary_route:
        raise SettingsError("PLUGIN_CANARY_ROUTE", "set either canary_route or canary_ingress, not both")


def check_analysis(values: Values) -> None:
    if values.analysis and values.strategy != "canary":
        raise SettingsError("PLUGIN_ANALYSIS", "runs during a canary: it needs strategy canary")
    if values.analysis and not values.prometheus_url:
        raise SettingsError("PLUGIN_PROMETHEUS_URL", "is required with analysis")


DECLARATION = Declaration(
    "kubectl-helm-deploy",
    combine(TARGET, MANIFESTS, HELM, STRATEGY, analysis.SETTINGS, OUTPUT, KUBE_ACCESS),
    checks=(check_mode, check_strategy, check_analysis),
)
