"""The Prometheus client's failures are one line, name the cause and never show a password of the URL (the
answers themselves are tested against the stack's real Prometheus: tests/integration/test_canary_analysis.py)."""

from __future__ import annotations

import pytest

from shared.prometheus import Prometheus, PrometheusError


def test_unreachable_prometheus_is_one_line_with_the_cause_and_no_password() -> None:
    prometheus = Prometheus("http://monitor:s3cret@127.0.0.1:1/")
    with pytest.raises(PrometheusError) as e:
        prometheus.value("up")
    prometheus.close()
    assert str(e.value) == "Prometheus at http://127.0.0.1:1 unreachable: Connection refused"


def test_unknown_host_names_the_resolver_failure() -> None:
    prometheus = Prometheus("http://no-such-host.invalid:9090")
    with pytest.raises(PrometheusError) as e:
        prometheus.parse_error("up")
    prometheus.close()
    assert str(e.value).startswith("Prometheus at http://no-such-host.invalid:9090 unreachable: ")
    assert "\n" not in str(e.value) and "object at 0x" not in str(e.value)
