"""Benchmark (not a test): the plugins on the stack's real node (`shipline-real`: kubelet + containerd), one run,
real pods of the example app's behaviour images (stack/app-images.sh):

1. deployment-verify vs `kubectl rollout status` on the same rollout: delay from "status complete" to each exit.
2. A real crash (the app exits at start): time to report it, deployment-verify vs kubectl, whose only signal is the
   progress deadline (BENCH_CRASH_DEADLINE seconds here, 600 by default).
3. chaos-kill's own recovery measurement vs the Service's EndpointSlices: from the first endpoint lost to all
   endpoints ready again, watched here.
4. Requests that failed while a client kept asking the Service: a rolling upgrade (maxUnavailable 0) and a
   blue/green switch by kubectl-helm-deploy.

Reads `.stack/env` (make up). Never fails on timing: exits 1 only if a tool failed or the stack is missing.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path

import yaml
from bench_verify import CRASH_DEADLINE, crash_rollout, good_rollout, start_tools, wait_all
from benchlib import Namespace, admin_client, bench_namespace, run, run_plugin, wait_for
from kubernetes import client

from demo.traffic import Traffic
from tests.integration import realnode

REPLICAS = 3


def verify_vs_kubectl(api: client.ApiClient, env: dict[str, str], ns: Namespace) -> None:
    dep = realnode.deployment("web", realnode.image(env, "healthy"), replicas=REPLICAS)
    dep["spec"]["progressDeadlineSeconds"] = CRASH_DEADLINE
    realnode.create(api, ns.name, dep)
    wait_all(start_tools(env, ns.name, "web", "180s"), 190)  # the first rollout warms both tools
    good_rollout(api, env, ns.name, "web", realnode.image(env, "v2"))
    crash_rollout(api, env, ns.name, "web", realnode.image(env, "exit-at-start"))


class EndpointClock(threading.Thread):
    """Polls the Service's ready endpoints: when the first one was lost, and when all were ready again after that."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str, want: int) -> None:
        super().__init__(daemon=True)
        self.api, self.namespace, self.service, self.want = api, namespace, service, want
        self.lost_at: float | None = None
        self.back_at: float | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.back_at is None:
            ready = len(realnode.ready_endpoints(self.api, self.namespace, self.service))
            now = time.monotonic()
            if self.lost_at is None and ready < self.want:
                self.lost_at = now
            elif self.lost_at is not None and ready >= self.want:
                self.back_at = now
            time.sleep(0.05)


def chaos_vs_endpoints(api: client.ApiClient, env: dict[str, str], ns: Namespace, tmp: str) -> None:
    print("== chaos: kill 1 of 3 pods; chaos-kill's recovery vs the Service's endpoints")
    realnode.serve(api, ns.name, "victim", realnode.image(env, "healthy"), REPLICAS)
    wait_for(lambda: len(realnode.ready_endpoints(api, ns.name, "victim")) == REPLICAS, 120, 0.2, "all endpoints")
    clock = EndpointClock(api, ns.name, "victim", REPLICAS)
    clock.start()
    report = Path(tmp) / "chaos.json"
    settings = {"label_selector": "app=victim", "mode": "one", "recovery_timeout": "180s"}
    run_plugin("chaos-kill", ns, {**settings, "report_file": str(report)}, tmp)
    clock.join(180)
    clock.stop.set()
    measured = json.loads(report.read_text())["rounds"][0]["recovery_seconds"]
    print(f"   chaos-kill's recovery (first kill -> all replicas available)   {measured:8.1f} s")
    if clock.lost_at is not None and clock.back_at is not None:
        print(
            f"   EndpointSlices (first endpoint lost -> all ready again)       {clock.back_at - clock.lost_at:8.1f} s"
        )
    else:
        print("   EndpointSlices: no loss or no recovery seen")


def traffic_during_deploys(api: client.ApiClient, env: dict[str, str], ns: Namespace, tmp: str) -> None:
    print("== requests to the Service during a deploy (a client asking back to back, a new connection each)")
    for name, strategy in (("rolling", "rolling"), ("bluegreen", "blue-green")):
        manifests = Path(tmp) / name
        manifests.mkdir()
        docs = [realnode.deployment(name, "placeholder", replicas=REPLICAS), realnode.service(name)]
        (manifests / "app.yaml").write_text(yaml.safe_dump_all(docs))
        settings = {"manifests": str(manifests), "strategy": strategy, "timeout": "5m"}
        if strategy == "rolling":
            settings.update(max_surge="1", max_unavailable="0")
        else:
            settings.update(service=name, scale_down_delay="5s")
        run_plugin("kubectl-helm-deploy", ns, {**settings, "image": realnode.image(env, "healthy")}, tmp)
        url = realnode.service_url(api, ns.name, name)
        realnode.wait_answering(url, expect="version: v1")
        started = time.monotonic()
        with Traffic(url) as traffic:
            run_plugin("kubectl-helm-deploy", ns, {**settings, "image": realnode.image(env, "v2")}, tmp)
            realnode.wait_answering(url, expect="version: v2")
        rate = traffic.total / (time.monotonic() - started)
        print(f"   {strategy:10} v1 -> v2: {traffic.summary()}; {rate:.0f} req/s")


def main(env: dict[str, str]) -> int:
    api = admin_client(env)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp, bench_namespace(env, "bench-real", "real") as ns:
            print(f"== on the real node {env.get('REAL_NODE', 'shipline-real')}, namespace {ns.name}")
            verify_vs_kubectl(api, env, ns)
            chaos_vs_endpoints(api, env, ns, tmp)
            traffic_during_deploys(api, env, ns, tmp)
    finally:
        api.close()
    return 0


if __name__ == "__main__":
    run(main)
