"""The demo's steps: the seed's pipeline run three times, as three builds of the example app would run it.

build 1  publish v1 -> deploy -> verify
build 2  change the app, publish v2 -> rolling upgrade (a client keeps asking the Service: no request may fail)
         -> verify -> chaos kill -> verify
build 3  a broken build (its app exits at start), tagged `crash` -> deploy: the real CrashLoopBackOff fails the
         rollout, which is rolled back to v2 -> verify v2 serves

The pods run on the stack's real node (kubelet + containerd): every HTTP check and chaos probe goes to the
example app's Service (its ClusterIP, routed by kube-proxy), so they reach the deployed pods themselves.

The demo plays the CI system: it sets Drone's variables (build number, commit, branch, event) for each plugin,
and gives each plugin only its own least-privilege token (examples/rbac/).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.log import Log

from .cluster import Cluster, DeploymentState
from .environment import Stack
from .plugins import Outcome, PluginRunner, plugin_env
from .traffic import Traffic
from .workspace import Workspace

APP = "example-app"
LABEL_SELECTOR = "app.kubernetes.io/name=example-app"
SECRET_SETTINGS = {"password", "kubernetes_token", "kubernetes_cert"}


@dataclass
class Step:
    name: str
    expected: str
    actual: str = "not run"
    ok: bool = False
    seconds: float = 0.0


@dataclass(frozen=True)
class Build:
    number: int
    version: str
    commit: str
    tags: tuple[str, ...]
    digest: str
    image: str  # repo@digest


@dataclass
class Facts:
    builds: dict[str, Build] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)
    recovery_seconds: float | None = None
    http_checked: list[str] = field(default_factory=list)
    rolling_traffic: str = ""  # what a client asking the Service saw during the rolling upgrade


class StepFailed(Exception):
    """A step did not behave as expected; the demo stops there (later steps would mean nothing)."""


class Demo:
    def __init__(self, stack: Stack, runner: PluginRunner, log: Log, namespace: str = "shipline-demo") -> None:
        """`namespace` is deleted and made anew; the image repository is named after it too."""
        self.stack = stack
        self.runner = runner
        self.log = log
        self.namespace = namespace
        self.repo = f"{stack.registry}/{namespace}/{APP}"
        self.facts = Facts()
        self.steps: list[Step] = []
        self.outcomes: list[tuple[str, Outcome]] = []  # every plugin run, unmasked (tests search them for secrets)
        self.tokens: dict[str, str] = {}
        self.cluster: Cluster | None = None
        self.workspace: Workspace | None = None
        self.url = ""  # the example app's Service: http://<ClusterIP>
        log.mask(stack.registry_password)

    # -- the run ---------------------------------------------------------------------------------------------

    def run(self) -> list[Step]:
        plan: list[tuple[str, str, Callable[[], str]]] = [
            ("prepare namespace", "namespace, 3 ServiceAccounts with namespaced Roles, 3 tokens", self.prepare),
            ("build 1: publish v1", "exit 0; unique tags, digest in the registry", lambda: self.publish(1, "v1")),
            ("build 1: deploy v1", "exit 0; 3/3 available on v1 (repo@digest)", lambda: self.deploy("v1")),
            ("build 1: Service answers v1", "the Service's ClusterIP answers version: v1", lambda: self.serve("v1")),
            ("build 1: verify v1", "exit 0; rollout, image and HTTP checks pass", lambda: self.verify("v1")),
            ("build 2: publish v2", "exit 0; new tags, a digest other than v1's", lambda: self.publish(2, "v2")),
            ("build 2: rolling upgrade", "exit 0; 3/3 on v2, next revision; no request failed", self.rolling_upgrade),
            ("build 2: Service answers v2", "the Service's ClusterIP answers version: v2", lambda: self.serve("v2")),
            ("build 2: verify v2", "exit 0; / answers version: v2", lambda: self.verify("v2")),
            ("build 2: chaos kill", "exit 0; one pod killed, recovery measured", self.chaos),
            ("build 2: verify again", "exit 0; steady state holds", lambda: self.verify("v2")),
            (
                "build 3: publish crash",
                "exit 0; a broken build, tagged 'crash'",
                lambda: self.publish(3, "v3", crash=True),
            ),
            ("build 3: deploy crash", "exit 1; CrashLoopBackOff, rolled back to v2", self.deploy_crash),
            ("build 3: verify v2 serves", "exit 0; v2's digest on every pod", lambda: self.verify("v2")),
        ]
        self.steps = [Step(name, expected) for name, expected, _ in plan]
        try:
            for step, (_, _, action) in zip(self.steps, plan, strict=True):
                self.log.heading(f"{step.name}  (expected: {step.expected})")
                started = time.monotonic()
                try:
                    step.actual = action()
                    step.ok = True
                except StepFailed as e:
                    step.actual = str(e)
                except Exception as e:  # noqa: BLE001 - any surprise stops the demo with one clear line
                    step.actual = f"{type(e).__name__}: {e}"
                step.seconds = time.monotonic() - started
                if not step.ok:
                    self.log.error(f"{step.name}: {step.actual}")
                    break
                self.log.info(f"ok: {step.actual}")
        finally:
            self.close()
        return self.steps

    def close(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
        if self.workspace is not None:
            self.workspace.remove()

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    # -- steps -----------------------------------------------------------------------------------------------

    def prepare(self) -> str:
        if not self.stack.real_node:
            raise StepFailed("the stack has no real node (another checkout runs this machine's one): see make up")
        self.cluster = Cluster(self.stack.kubeconfig)
        self.tokens = self.cluster.prepare_namespace(self.namespace)
        self.log.mask(*self.tokens.values())
        self.workspace = Workspace.create("v1")
        self.log.info(f"workspace (a git repository, as CI would clone it): {self.workspace.path}")
        self.log.info(f"plugins run as: {self.runner.kind}")
        return f"namespace {self.namespace}, ServiceAccounts {', '.join(sorted(self.tokens))}"

    def publish(self, number: int, version: str, crash: bool = False) -> str:
        ws = self._workspace()
        if crash:
            ws.change(version, f"example app {version}, broken: it exits at start", env={"EXIT_AT_START": "3"})
        elif version != "v1":
            ws.change(version, f"example app {version}")
        settings: dict[str, object] = {
            "repo": self.repo,
            "dockerfile": "Dockerfile",
            "context": ".",
            # The local base image: nothing can be pulled here.
            "build_args": {"BASE_IMAGE": "shipline/python-base:bookworm"},
            "tag_strategies": ["git_sha_build_id", "system_build_id"],
            "username": self.stack.registry_username,
            "password": self.stack.registry_password,
        }
        if crash:
            settings["tag_suffix"] = "-crash"
        outcome = self._run("docker-publish-tagger", settings, number)
        self._expect_code(outcome, 0)
        handoff = json.loads((ws.path / ".shipline" / "publish.json").read_text())
        build = Build(number, version, ws.commit, tuple(handoff["tags"]), handoff["digest"], handoff["image"])
        earlier = [b.digest for b in self.facts.builds.values()]
        if build.digest in earlier:
            raise StepFailed(f"digest {build.digest} is not new: the change did not reach the image")
        if crash and not any("crash" in t for t in build.tags):
            raise StepFailed(f"no tag contains 'crash': {build.tags}")
        self.facts.builds["crash" if crash else version] = build
        return f"tags {', '.join(build.tags)}; {short(build.image)}"

    def deploy(self, version: str) -> str:
        build = self.facts.builds[version]
        settings = {
            "namespace": self.namespace,
            "manifests": ["k8s"],
            # The image comes from publish's handoff (.shipline/publish.json): repo@digest, what was built.
            "strategy": "rolling",
            "max_surge": "1",
            "max_unavailable": "0",
            "timeout": "5m",
            "report_file": ".shipline/deploy.json",
            **self._kube("deploy"),
        }
        self._expect_code(self._run("kubectl-helm-deploy", settings, build.number), 0)
        state = self._cluster().wait_healthy(self.namespace, APP, timeout=120)
        self._expect_image(state, build.image)
        self.facts.revisions[version] = state.revision
        return f"revision {state.revision}, {state.available}/{state.replicas} available on {short(build.image)}"

    def rolling_upgrade(self) -> str:
        """deploy v2 while a client keeps asking the Service: with maxUnavailable 0 not one request may fail."""
        with Traffic(self._service_url() + "/") as traffic:
            done = self.deploy("v2")
        self.facts.rolling_traffic = traffic.summary()
        self.log.info(f"during the rolling upgrade: {traffic.summary()}")
        if traffic.failed or not traffic.ok:
            raise StepFailed(f"requests failed during the rolling upgrade: {traffic.summary()}")
        return f"{done}; {traffic.summary()}"

    def serve(self, version: str) -> str:
        """The Service answers with `version` (kube-proxy needs a moment to program a new Service: poll)."""
        url = self._service_url() + "/"
        page = self._cluster().wait_answering(url, f"version: {version}", timeout=120)
        if page is None:
            raise StepFailed(f"{url} did not answer version: {version} within 120s")
        self.facts.http_checked.append(f"{url} -> version: {version}")
        return f"{url} says version: {version} (the Service of the deployed pods)"

    def verify(self, version: str) -> str:
        build = self.facts.builds[version]
        settings = {
            "namespace": self.namespace,
            "deployments": [APP],
            "timeout": "3m",
            "expected_image": build.image,
            "urls": [f"{self._service_url()}/"],
            "expect_body": f"version: {version}",
            "requests_per_url": 5,
            "interval": "100ms",
            "max_error_rate": 0,
            "warmup_retries": 3,
            "report_file": ".shipline/verify.json",
            **self._kube("verify"),
        }
        self._expect_code(self._run("deployment-verify", settings, build.number), 0)
        report = self._report("verify.json")
        checks = report.get("checks", [])
        passed = sum(1 for c in checks if c.get("passed"))
        return f"{passed}/{len(checks)} checks passed (rollout, every pod on {short(build.image)}, HTTP)"

    def chaos(self) -> str:
        settings = {
            "namespace": self.namespace,
            "label_selector": LABEL_SELECTOR,
            "require_label": "shipline.io/chaos=enabled",
            "mode": "one",
            "min_available": 2,
            "random_seed": "shipline-demo",
            "recovery_timeout": "60s",
            "probe_urls": [f"{self._service_url()}/healthz"],
            "report_file": ".shipline/chaos.json",
            **self._kube("chaos"),
        }
        self._expect_code(self._run("chaos-kill", settings, self.facts.builds["v2"].number), 0)
        rounds = self._report("chaos.json").get("rounds", [])
        killed = [k.get("pod", "?") for r in rounds for k in r.get("kills", [])]
        seconds = rounds[0].get("recovery_seconds") if rounds else None
        if not killed or seconds is None:
            raise StepFailed(f"the report shows no kill or no recovery time: {rounds}")
        self.facts.recovery_seconds = float(seconds)
        return f"killed {', '.join(killed)}; back to 3/3 available in {seconds:.1f}s"

    def deploy_crash(self) -> str:
        crash, good = self.facts.builds["crash"], self.facts.builds["v2"]
        tag = next(t for t in crash.tags if "crash" in t)
        # repo:tag@digest: pinned by digest like every deploy, with the crash tag kwok's stage looks for.
        image = f"{self.repo}:{tag}@{crash.digest}"
        settings = {
            "namespace": self.namespace,
            "manifests": ["k8s"],
            "image": image,
            "strategy": "rolling",
            "max_surge": "1",
            "max_unavailable": "0",
            "timeout": "5m",
            "rollback_on_failure": True,
            "report_file": ".shipline/deploy.json",
            **self._kube("deploy"),
        }
        outcome = self._run("kubectl-helm-deploy", settings, crash.number)
        self._expect_code(outcome, 1)
        if "CrashLoopBackOff" not in outcome.output or "EXIT_AT_START" not in outcome.output:
            raise StepFailed("exit 1, but the output names no CrashLoopBackOff with the app's termination message")
        state = self._cluster().wait_healthy(self.namespace, APP, timeout=120)
        self._expect_image(state, good.image)
        self.facts.revisions["crash"] = "failed"
        self.facts.revisions["rollback"] = state.revision
        return (
            f"exit 1 (CrashLoopBackOff); rolled back: revision {state.revision} runs v2 ({short(good.image)}), "
            f"{state.available}/{state.replicas} available"
        )

    # -- helpers ---------------------------------------------------------------------------------------------

    def _run(self, plugin: str, settings: Mapping[str, object], build_number: int) -> Outcome:
        shown = ", ".join(
            f"{k}={'******' if k in SECRET_SETTINGS else v}" for k, v in settings.items() if v is not None
        )
        self.log.info(f"{plugin}: {shown}")
        env = {**self._ci(build_number), **plugin_env(settings)}
        outcome = self.runner.run(plugin, env, self._workspace().path, self.log)
        self.outcomes.append((plugin, outcome))
        return outcome

    def _ci(self, build_number: int) -> dict[str, str]:
        """What Drone would set for this build."""
        return {
            "DRONE": "true",
            "DRONE_BUILD_NUMBER": str(build_number),
            "DRONE_BUILD_EVENT": "push",
            "DRONE_COMMIT_SHA": self._workspace().commit,
            "DRONE_COMMIT_BRANCH": "main",
            "DRONE_COMMIT_REF": "refs/heads/main",
            "DRONE_REPO": f"{self.namespace}/{APP}",
            "DRONE_REPO_BRANCH": "main",
        }

    def _kube(self, plugin: str) -> dict[str, object]:
        return {
            "kubernetes_server": self.stack.kube_server,
            "kubernetes_cert": self.stack.ca_pem,
            "kubernetes_token": self.tokens[plugin],
        }

    def _report(self, name: str) -> dict[str, Any]:
        path = self._workspace().path / ".shipline" / name
        if not path.is_file():
            raise StepFailed(f"no report at {path}")
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    @staticmethod
    def _expect_code(outcome: Outcome, code: int) -> None:
        if outcome.code != code:
            last = outcome.output.strip().splitlines()[-1:] or ["(no output)"]
            raise StepFailed(f"exit {outcome.code}, expected {code}: {last[0]}")

    @staticmethod
    def _expect_image(state: DeploymentState, image: str) -> None:
        if state.images != (image,):
            raise StepFailed(f"the Deployment runs {', '.join(state.images)}, expected {image}")

    def _service_url(self) -> str:
        if not self.url:
            self.url = self._cluster().service_url(self.namespace, APP)
        return self.url

    def _workspace(self) -> Workspace:
        assert self.workspace is not None, "prepare runs first"
        return self.workspace

    def _cluster(self) -> Cluster:
        assert self.cluster is not None, "prepare runs first"
        return self.cluster


def short(image: str) -> str:
    """`app@sha256:4e6b94adfb77` for a `host/path/app@sha256:...` reference: enough to tell builds apart."""
    name, _, digest = image.rpartition("@")
    return f"{name.rsplit('/', 1)[-1]}@{digest[:19]}" if name else image


def summary(demo: Demo, log: Log) -> None:
    log.heading("Summary")
    log.table(
        ("step", "expected", "actual", "time", "result"),
        [(s.name, s.expected, s.actual, f"{s.seconds:.1f}s", _result(s)) for s in demo.steps],
    )
    facts = demo.facts
    if facts.builds:
        log.info("")
        log.table(
            ("build", "version", "commit", "tags", "digest"),
            [(b.number, k, b.commit[:12], ", ".join(b.tags), b.digest) for k, b in facts.builds.items()],
        )
    if facts.revisions:
        log.info("")
        log.info("revisions: " + ", ".join(f"{k} -> {v}" for k, v in facts.revisions.items()))
    if facts.rolling_traffic:
        log.info(f"rolling upgrade v1 -> v2 seen by a client of the Service: {facts.rolling_traffic}")
    if facts.recovery_seconds is not None:
        log.info(f"chaos recovery: {facts.recovery_seconds:.1f}s (first kill -> all replicas available again)")
    log.info(
        "note: the pods ran on the stack's real node (kubelet + containerd); every HTTP check and chaos probe went "
        "to their Service's ClusterIP through kube-proxy"
    )
    log.info(f"result: {'every step behaved as expected' if demo.passed else 'NOT every step behaved as expected'}")


def _result(step: Step) -> str:
    return "ok" if step.ok else "NOT RUN" if step.actual == "not run" else "FAILED"
