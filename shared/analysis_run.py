"""Running analysis checks against Prometheus: validating every query with Prometheus' own parser before anything
changes, then measuring (the canary at each analysis_interval, deployment-verify once)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from shared.analysis import Check, Measurement, measurement, prom_duration, render
from shared.auth import SecretDir, decode_ca
from shared.errors import SettingsError
from shared.prometheus import Prometheus, PrometheusError
from shared.settings import Values


@dataclass(frozen=True)
class Target:
    """What the placeholders stand for."""

    namespace: str
    canary: str
    stable: str
    interval: float

    def fill(self, query: str, *, as_stable: bool = False) -> str:
        return render(
            query,
            namespace=self.namespace,
            canary=self.stable if as_stable else self.canary,
            stable=self.stable,
            interval=prom_duration(self.interval),
        )


def connect(values: Values, secrets: SecretDir, checks: Sequence[Check], target: Target) -> Prometheus:
    """A client for the settings' Prometheus, once every query of `checks` passed its parser (else exit 2)."""
    ca = ""
    if values.prometheus_ca:
        ca = str(secrets.write("prometheus-ca.crt", decode_ca(values.prometheus_ca, "PLUGIN_PROMETHEUS_CA")))
    prometheus = Prometheus(values.prometheus_url, token=values.prometheus_token, ca_file=ca)
    try:
        validate(prometheus, checks, target, "PLUGIN_ANALYSIS")
    except BaseException:
        prometheus.close()
        raise
    return prometheus


def validate(prometheus: Prometheus, checks: Sequence[Check], target: Target, setting: str) -> None:
    """SettingsError for the first query Prometheus' parser refuses (PrometheusError when it cannot be asked)."""
    for check in checks:
        problem = prometheus.parse_error(target.fill(check.query))
        if problem:
            raise SettingsError(setting, f'check "{check.name}": the query does not parse: {" ".join(problem.split())}')


def measure(prometheus: Prometheus, checks: Sequence[Check], target: Target) -> list[Measurement]:
    """Every check once; a query that cannot run is that check's failure, with the cause."""
    results = []
    for check in checks:
        query = target.fill(check.query)
        value = stable = None
        error = ""
        try:
            value = prometheus.value(query)
            if check.max_increase is not None:
                stable = prometheus.value(target.fill(check.query, as_stable=True))
        except PrometheusError as e:
            error = str(e)
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        results.append(measurement(check, query, value, stable, error, now))
    return results
