"""The plugin images: their sizes (scripts/images.sh --sizes) and their start-up, from the container's process
start to its first network request, next to `kubectl version --client` and `helm version` measured in the same run;
each next to its target (issue 15), reported, never asserted.

Start-up: each image runs as a CI runner runs it (`docker run --network host -e PLUGIN_...`) with valid settings
that point its first connection (the Kubernetes API server, the Docker engine) at a listener here; the time from
the container's start (the engine's State.StartedAt) to that connection is the start-up. The listener closes the
connection, so the plugin fails afterwards; the container is removed at once. Needs `make images` first.
The engine stamps StartedAt about when the process starts, a few milliseconds either way: the bare interpreter's
row (the same runtime, connecting as its first act) is the floor of this measure, and its best can read 0 or less.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import REPETITIONS, ROOT, ToolFailed, load_stack, run_timed  # noqa: E402

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
TAG = os.environ.get("SHIPLINE_IMAGE_TAG") or VERSION
TARGETS = {"docker-publish-tagger": 0.15, "kubectl-helm-deploy": 0.3, "deployment-verify": 0.3, "chaos-kill": 0.3}
SIZE_TARGETS = {  # MB, as `docker image inspect` counts; the suite counts the layers the four share once
    "docker-publish-tagger": 70, "kubectl-helm-deploy": 140, "deployment-verify": 70, "chaos-kill": 70, "suite": 160,
}  # fmt: skip
# The floor under every image's number: the same runtime, connecting as its first and only act.
BARE = "bare interpreter"
CONNECT = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])))"


class FirstConnection:
    """A TCP listener on 127.0.0.1 that records when each connection arrives and closes it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[float] = []
        self.arrived = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            self.arrivals.append(time.time())
            self.arrived.set()
            conn.close()

    def next(self) -> None:
        self.arrivals.clear()
        self.arrived.clear()


def settings(plugin: str, port: int, stack: dict[str, str]) -> dict[str, str]:
    kube = {
        "PLUGIN_KUBERNETES_SERVER": f"https://127.0.0.1:{port}",
        "PLUGIN_KUBERNETES_CERT": Path(stack["KUBE_CA_FILE"]).read_text(),
        "PLUGIN_KUBERNETES_TOKEN": "bench-token",
        "PLUGIN_NAMESPACE": "bench",
    }
    return {
        "docker-publish-tagger": {
            "PLUGIN_REPO": "127.0.0.1:5000/bench/app",
            "PLUGIN_DOCKER_HOST": f"tcp://127.0.0.1:{port}",
            "DRONE": "true",
            "DRONE_BUILD_NUMBER": "1",
            "DRONE_COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
            "DRONE_BUILD_EVENT": "push",
        },
        "kubectl-helm-deploy": {**kube, "PLUGIN_MANIFESTS": "k8s", "PLUGIN_IMAGE": "127.0.0.1:5000/bench/app:1"},
        "deployment-verify": {**kube, "PLUGIN_DEPLOYMENTS": "example-app"},
        "chaos-kill": {**kube, "PLUGIN_LABEL_SELECTOR": "app.kubernetes.io/name=example-app"},
    }[plugin]


def started_at(container: str, env: dict[str, str]) -> float:
    stamp = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.StartedAt}}", container],
        env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


def start_up(plugin: str, listener: FirstConnection, stack: dict[str, str], workspace: Path) -> float:
    """Seconds from the container's start to its first connection to the listener."""
    env = {"PATH": os.environ["PATH"], "DOCKER_HOST": stack["DOCKER_HOST"]}
    if plugin != BARE:
        env.update(settings(plugin, listener.port, stack))
    names = [name for name in env if name.startswith(("PLUGIN_", "DRONE"))]
    listener.next()
    argv = ["docker", "run", "-d", "--network", "host", "-v", f"{workspace}:{workspace}", "-w", str(workspace)]
    argv += [arg for name in sorted(names) for arg in ("-e", name)]
    if plugin == BARE:
        argv += ["--entrypoint", "python3", f"shipline/chaos-kill:{TAG}", "-IuS", "-c", CONNECT, str(listener.port)]
    else:
        argv.append(f"shipline/{plugin}:{TAG}")
    container = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.strip()
    try:
        if not listener.arrived.wait(60):
            logs = subprocess.run(["docker", "logs", container], env=env, capture_output=True, text=True).stderr
            raise ToolFailed(f"{plugin} made no connection within 60 s:\n{logs[-2000:]}")
        return listener.arrivals[0] - started_at(container, env)
    finally:
        subprocess.run(["docker", "rm", "-f", container], env=env, capture_output=True, check=False)


def print_sizes(env: dict[str, str]) -> bool:
    """scripts/images.sh's sizes (the one place they are counted), each with its target."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "images.sh"), "--sizes"], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        print(f"bench_images: {done.stderr.strip()}", file=sys.stderr)
        return False
    print("== Sizes (docker image inspect; the suite counts the layers the four images share once)")
    print(f"   {'image':24} {'size':>9} {'target':>7}")
    for line in done.stdout.splitlines()[1:]:
        name, size = line.rsplit(None, 2)[0], float(line.split()[-2])
        key = "suite" if name.startswith("suite") else name.removeprefix("shipline/").split(":")[0]
        target = SIZE_TARGETS[key]
        print(f"   {key:24} {size:6.1f} MB {target:4} MB  {'ok' if size <= target else 'over'}")
    print()
    return True


def main() -> int:
    stack = load_stack()
    env = {**os.environ, "DOCKER_HOST": stack["DOCKER_HOST"]}
    if not print_sizes(env):
        return 1
    kubectl, helm = stack.get("KUBECTL") or shutil.which("kubectl"), stack.get("HELM_BIN") or shutil.which("helm")
    listener = FirstConnection()
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        workspace = Path(tmp)
        workspace.chmod(0o777)
        shutil.copytree(ROOT / "examples" / "k8s", workspace / "k8s")
        (workspace / "Dockerfile").write_text("FROM scratch\n")
        references = {
            "kubectl version --client": [str(kubectl), "version", "--client"],
            "helm version": [str(helm), "version"],
        }
        reference = {name: [] for name in references}
        measured: dict[str, list[float]] = {plugin: [] for plugin in (BARE, *TARGETS)}
        try:
            for _ in range(REPETITIONS):
                for name, argv in references.items():
                    reference[name].append(run_timed(argv))
                for plugin in measured:
                    measured[plugin].append(start_up(plugin, listener, stack, workspace))
        except ToolFailed as e:
            print(f"bench_images: {e}", file=sys.stderr)
            return 1
    ref = {name: statistics.median(times) for name, times in reference.items()}
    print(f"== Start-up: container process start to first network request ({REPETITIONS} runs; the best run shows")
    print("   what an idle machine gives, the median what this one gave)")
    print("   " + "  ".join(f"{name}: {took:.3f}s (median)" for name, took in ref.items()))
    print(f"   {'image':24} {'median':>8} {'best':>7} {'target':>7} {'vs kubectl':>11} {'vs helm':>8}")
    for plugin, times in measured.items():
        took = statistics.median(times)
        ratios = [took / ref[name] for name in references]
        target = TARGETS.get(plugin)
        mark = "" if target is None else "ok" if min(times) <= target else "over"
        print(
            f"   {plugin:24} {took:7.3f}s {min(times):6.3f}s {f'{target:.2f}s' if target else '':>7} "
            f"{ratios[0]:10.1f}x {ratios[1]:7.1f}x  {mark}"
        )
    print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
