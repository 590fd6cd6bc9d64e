"""Benchmark (not a test): kubectl-helm-deploy against the reference tools, same run, same inputs, both as the
least-privilege deployer of a fresh namespace (stack/rbac-deployer.yaml).

1. manifests mode: a Deployment (3 replicas, rolling) + Service; each repetition changes the image and waits for
   the rollout. Reference: `kubectl apply --server-side` + `kubectl rollout status`.
2. helm mode: a tiny local chart (the same Deployment + Service); each repetition upgrades with a new image value.
   Reference: `helm upgrade --install --wait`. The plugin also runs `helm lint` first (its default).

Each tool has its own Deployment/release (same spec, other name), created in an unmeasured first round.
Never fails on timing: exits 1 only if a tool itself failed (or the stack is missing).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from benchlib import (
    REPETITIONS,
    Case,
    Namespace,
    bench_namespace,
    print_table,
    run,
    run_plugin,
    run_timed,
)

IMAGE = "registry.local/bench/web"
TIMEOUT = "90s"

DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
  replicas: 3
  strategy: {{type: RollingUpdate}}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: web
        image: {image}
        ports: [{{containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
"""

# The same Deployment + Service as a chart; the image is one string value (image_value=image).
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: bench\nversion: 0.1.0\nappVersion: '1.0.0'\ntype: application\n",
    "values.yaml": f"image: {IMAGE}:v0\nreplicaCount: 3\n",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
  labels: {app: {{ .Release.Name }}-web}
spec:
  replicas: {{ .Values.replicaCount }}
  strategy: {type: RollingUpdate}
  selector:
    matchLabels: {app: {{ .Release.Name }}-web}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
    spec:
      containers:
      - name: web
        image: {{ .Values.image | quote }}
        ports: [{containerPort: 8080}]
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-web
spec:
  selector: {app: {{ .Release.Name }}-web}
  ports: [{port: 80, targetPort: 8080}]
""",
}


def manifest(name: str, image: str) -> str:
    return DEPLOYMENT_TEMPLATE.format(name=name, image=image)


def write_chart(directory: Path) -> Path:
    for relative, text in CHART.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


class Tools:
    """The two sides of each case, as the namespace's deployer."""

    def __init__(self, stack: dict[str, str], ns: Namespace, workdir: Path) -> None:
        self.stack, self.ns, self.workdir = stack, ns, workdir
        self.kubeconfig = str(ns.write_kubeconfig(workdir / "deployer.kubeconfig"))
        self.kubectl = stack.get("KUBECTL") or "kubectl"
        self.chart = str(write_chart(workdir / "chart"))
        (workdir / "ship").mkdir()

    def plugin(self, **settings: str) -> float:
        return run_plugin("kubectl-helm-deploy", self.ns, {"timeout": TIMEOUT, **settings}, self.workdir / "ship")

    def shipline_manifests(self, image: str) -> float:
        path = self.workdir / "ship.yaml"
        path.write_text(manifest("ship", f"{IMAGE}:v0"))  # the plugin sets the image itself
        return self.plugin(manifests=str(path), image=image)

    def kubectl_manifests(self, image: str) -> float:
        path = self.workdir / "ref.yaml"
        path.write_text(manifest("ref", image))
        base = [self.kubectl, "--kubeconfig", self.kubeconfig, "-n", self.ns.name]
        took = run_timed([*base, "apply", "--server-side", "-f", str(path)])
        return took + run_timed([*base, "rollout", "status", "deployment/ref", f"--timeout={TIMEOUT}"])

    def shipline_helm(self, image: str) -> float:
        return self.plugin(
            chart=self.chart, release="ship", image=image, image_value="image", helm_bin=self.stack["HELM_BIN"]
        )

    def helm_upgrade(self, image: str) -> float:
        argv = [self.stack["HELM_BIN"], "--kubeconfig", self.kubeconfig, "-n", self.ns.name, "upgrade"]
        argv += ["--install", "ref", self.chart, "--set-string", f"image={image}", "--wait", f"--timeout={TIMEOUT}"]
        return run_timed(argv)


def measure(case: Case, ours: Callable[[str], float], theirs: Callable[[str], float], version: list[int]) -> None:
    """An unmeasured first round (creates the objects), then REPETITIONS image changes, alternating tools."""
    for repetition in range(REPETITIONS + 1):
        version[0] += 1
        image = f"{IMAGE}:v{version[0]}"
        took = ours(image), theirs(image)
        if repetition:
            case.shipline.append(took[0])
            case.reference.append(took[1])


def main(stack: dict[str, str]) -> int:
    plain, helm = Case("manifests (rolling, 3 pods)"), Case("helm chart (3 pods)")
    version = [0]
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp, bench_namespace(stack, "bench-deploy") as ns:
        tools = Tools(stack, ns, Path(tmp))
        measure(plain, tools.shipline_manifests, tools.kubectl_manifests, version)
        measure(helm, tools.shipline_helm, tools.helm_upgrade, version)
    print_table(
        "deploy: image change until the rollout is complete",
        "kubectl-helm-deploy",
        "kubectl apply --server-side + rollout status / helm upgrade --install --wait",
        [plain, helm],
    )
    return 0


if __name__ == "__main__":
    run(main)
