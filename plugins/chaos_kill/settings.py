"""chaos-kill's settings, declared once.

Each setting's format (shared.grammar) refuses a malformed namespace, selector, regex, label or URL; the
cross-setting checks below make every unsafe or ambiguous combination an input error (exit 2) before any API
call: a protected namespace, a mode/value mismatch, a minimum of 0 without allow_total_outage.
"""

from __future__ import annotations

import re

from shared.auth import KUBE_ACCESS
from shared.errors import SettingsError
from shared.settings import Declaration, Setting, Values, combine

MODES = ("one", "fixed", "percent", "all")

# A label key: optional DNS prefix, then a name of alphanumerics, '-', '_', '.' (at most 63 characters).
_LABEL_KEY = r"(?:[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?"
REQUIRE_LABEL = re.compile(rf"(?P<key>{_LABEL_KEY})(?:=(?P<value>{_LABEL_VALUE}))?")

CHAOS: tuple[Setting, ...] = (
    Setting("namespace", required=True, doc="The namespace whose pods may be killed", format="namespace"),
    Setting(
        "label_selector",
        required=True,
        doc="Label selector of the target pods, e.g. app=web (an empty selector is refused, never 'all pods')",
        format="label_selector",
    ),
    Setting(
        "name_pattern", doc="Regular expression searched in pod names; only matching pods are eligible", format="regex"
    ),
    Setting(
        "field_selector",
        doc="Field selector added to the pod query, e.g. spec.nodeName=node-1",
        format="pod_field_selector",
    ),
    Setting(
        "include_unowned",
        "bool",
        False,
        "Also kill pods no controller owns (nothing will replace them)",
    ),
    Setting("mode", default="one", choices=MODES, doc="How many pods to kill per round"),
    Setting(
        "value",
        "float",
        doc="With mode fixed: how many pods (whole number >= 1); with mode percent: the percentage (0 < p <= 100, "
        "rounded up, at least one pod). Refused with modes one and all",
        minimum=0,
        maximum=100_000,
    ),
    Setting("random_seed", doc="Seed for the victim choice (e.g. the build number): same seed, same pods"),
    Setting("rounds", "int", 1, "How many rounds of kills", minimum=1, maximum=100),
    Setting("interval", "duration", 0.0, "Pause between a round's recovery and the next round", minimum=0),
    Setting(
        "grace_period",
        "int",
        doc="Termination grace period in seconds (default: each pod's own)",
        minimum=0,
        maximum=86_400,
    ),
    Setting("force", "bool", False, "Kill immediately (grace period 0)"),
    Setting(
        "protected_namespaces",
        "list",
        ("kube-system", "kube-public", "kube-node-lease"),
        "Namespaces this plugin refuses to touch",
        format="namespace",
    ),
    Setting(
        "require_label",
        doc="Opt-in label (key or key=value, e.g. shipline.io/chaos=enabled) the pod or its owning workload must carry",
        format="label",
    ),
    Setting("max_kill", "int", doc="Hard cap on pods killed per round", minimum=1, maximum=100_000),
    Setting(
        "min_available",
        "int",
        1,
        "Never let a targeted workload drop below this many Ready pods (the selection shrinks instead); 0 needs "
        "allow_total_outage",
        minimum=0,
        maximum=100_000,
    ),
    Setting(
        "allow_total_outage",
        "bool",
        False,
        "Allow killing the last Ready pod of a workload (min_available then defaults to 0)",
    ),
    Setting(
        "respect_pdb",
        "bool",
        True,
        "Kill through the Eviction API, so PodDisruptionBudgets are honoured; pods a budget protects are reported",
    ),
    Setting("dry_run", "bool", False, "Print the pods that would be killed, kill none"),
    Setting(
        "probe_urls",
        "list",
        (),
        doc="HTTP URLs that must answer as expected before the experiment and after every round",
        format="http_url",
    ),
    Setting(
        "probe_status",
        "int",
        200,
        "The status each probe must answer (0: any status below 400)",
        minimum=0,
        maximum=599,
    ),
    Setting("probe_body", doc="A regex each probe's body must contain", format="regex"),
    Setting("probe_max_latency", "duration", doc="Highest acceptable p95 latency of a probe's requests", maximum=600),
    Setting("probe_requests", "int", 3, "Requests per probe check (all must pass)", minimum=1, maximum=100),
    Setting("probe_timeout", "duration", 5.0, "Timeout of one probe request", minimum=0.1, maximum=600),
    Setting(
        "probe_headers",
        "map",
        {},
        "Headers sent with every probe request (JSON or k=v)",
        secret=True,
        format="header_value",
        key_format="header_name",
    ),
    Setting(
        "recovery_timeout",
        "duration",
        60.0,
        "How long each round may take to be fully available again (and probes passing)",
        minimum=0.1,
    ),
    Setting(
        "chaostoolkit_experiment",
        "path",
        doc="A Chaos Toolkit experiment JSON whose steady-state-hypothesis HTTP probes are added to probe_urls",
    ),
    Setting("report_file", "path", doc="Write the results as JSON here", output=True),
    Setting("junit_file", "path", doc="Write the results as JUnit XML here", output=True),
)


def check_namespace(values: Values) -> None:
    protected = {n.strip() for n in values.protected_namespaces}
    if values.namespace.strip() in protected:
        raise SettingsError(
            "PLUGIN_NAMESPACE",
            f'"{values.namespace}" is protected (protected_namespaces: {", ".join(sorted(protected))}); refusing',
        )


def check_mode_value(values: Values) -> None:
    mode, value = values.mode, values.value
    if mode in ("one", "all"):
        if values.given("value"):
            raise SettingsError("PLUGIN_VALUE", f"is not used with mode {mode}; remove it or use mode fixed/percent")
        return
    if value is None:
        raise SettingsError("PLUGIN_VALUE", f"is required with mode {mode}")
    if mode == "fixed" and (value < 1 or not float(value).is_integer()):
        raise SettingsError("PLUGIN_VALUE", f"{_show(value)} is not a pod count (a whole number >= 1) for mode fixed")
    if mode == "percent" and not 0 < value <= 100:
        raise SettingsError("PLUGIN_VALUE", f"{_show(value)} is not a percentage (0 < p <= 100) for mode percent")


def check_outage(values: Values) -> None:
    if values.given("min_available") and values.min_available == 0 and not values.allow_total_outage:
        raise SettingsError(
            "PLUGIN_MIN_AVAILABLE",
            "0 would let a workload lose every Ready pod; set allow_total_outage: true if that is the experiment",
        )


def check_force(values: Values) -> None:
    if values.force and values.grace_period not in (None, 0):
        raise SettingsError("PLUGIN_FORCE", f"contradicts grace_period {values.grace_period}; set only one")


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


DECLARATION = Declaration(
    "chaos-kill",
    combine(CHAOS, KUBE_ACCESS),
    checks=(
        check_namespace,
        check_mode_value,
        check_outage,
        check_force,
    ),
)
