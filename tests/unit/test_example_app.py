"""The example app's behaviours (examples/app/app.py), which the real-node tests rely on: each must do exactly what
its image tag promises (stack/app-images.sh)."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import requests

APP = Path(__file__).resolve().parents[2] / "examples" / "app" / "app.py"


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_app", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


app = load_app()


@pytest.mark.parametrize(("rate", "failures"), [(0.0, 0), (0.25, 25), (0.5, 50), (1.0, 100)])
def test_error_rate_is_exact_and_evenly_spread(rate: float, failures: int) -> None:
    state = app.State("v1", 0, error_rate=rate)
    results = [state.next_fails() for _ in range(100)]
    assert sum(results) == failures
    if rate == 0.5:
        assert results[:4] == [False, True, False, True]


def test_never_ready_and_ready_delay() -> None:
    assert app.State("v1", 0).ready()
    assert not app.State("v1", 0, never_ready=True).ready()
    assert not app.State("v1", 60).ready()


def test_metrics_count_requests_by_path_and_status() -> None:
    state = app.State("v7", 0)
    state.count("/", 200)
    state.count("/", 200)
    state.count("/", 500)
    text = state.metrics()
    assert 'app_requests_total{path="/",code="200"} 2' in text
    assert 'app_requests_total{path="/",code="500"} 1' in text
    assert "app_ready 1" in text and 'app_info{version="v7"} 1' in text


def test_http_metrics_count_application_requests_by_code_and_time_them() -> None:
    state = app.State("v2", 0)
    state.observe(200, 0.003)
    state.observe(200, 0.3)
    state.observe(500, 0.03)
    text = state.metrics()
    assert 'http_requests_total{code="200",version="v2"} 2' in text
    assert 'http_requests_total{code="500",version="v2"} 1' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",version="v2"} 1' in text
    assert 'http_request_duration_seconds_bucket{le="0.05",version="v2"} 2' in text
    assert 'http_request_duration_seconds_bucket{le="0.5",version="v2"} 3' in text
    assert 'http_request_duration_seconds_bucket{le="+Inf",version="v2"} 3' in text
    assert 'http_request_duration_seconds_count{version="v2"} 3' in text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_app(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(APP)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_exit_at_start_exits_with_the_status_and_says_why() -> None:
    proc = run_app(EXIT_AT_START="3", PORT=str(free_port()))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert "exiting at start with status 3 (EXIT_AT_START)" in err


def test_crash_after_serves_then_exits_1() -> None:
    port = free_port()
    proc = run_app(CRASH_AFTER="2", PORT=str(port))
    try:
        deadline = time.monotonic() + 60
        while True:  # it serves first ...
            try:
                assert requests.get(f"http://127.0.0.1:{port}/readiness", timeout=2).status_code == 200
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        _, err = proc.communicate(timeout=60)  # ... then dies
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "crashing after 2s (CRASH_AFTER)" in err


def test_latency_slows_application_requests_and_shows_in_the_histogram() -> None:
    port = free_port()
    proc = run_app(LATENCY="0.3", ERROR_RATE="0.5", PORT=str(port))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        started = time.monotonic()
        codes = [requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code for _ in range(2)]
        assert time.monotonic() - started >= 0.6 and sorted(codes) == [200, 500]
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert 'http_request_duration_seconds_bucket{le="0.25",version="v1"} 0' in text
    assert 'http_request_duration_seconds_bucket{le="0.5",version="v1"} 2' in text
    assert 'http_requests_total{code="500",version="v1"} 1' in text  # probes (/healthz) are not counted
    assert 'http_requests_total{code="200",version="v1"} 1' in text
