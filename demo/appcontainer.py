"""A real container of the example app on the local Docker engine.

kwok's pods run no containers: the cluster's rollout is real (scheduler, controllers, ReplicaSets) but nothing
serves behind its pods. So the demo runs the exact image the Deployment runs (same repo@digest) as a container
here and points the HTTP checks (deployment-verify's urls, chaos-kill's probe_urls) at it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

import docker
import requests
from docker.models.containers import Container


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AppContainer:
    docker_host: str
    name: str
    image: str = ""
    port: int = 0
    _container: Container | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self, image: str, timeout: float = 30.0) -> str:
        """(Re)start the container on `image`; returns its base URL once /healthz answers."""
        self.stop()
        self.port = free_port()
        engine = docker.DockerClient(base_url=self.docker_host)
        try:
            self._remove_leftover(engine)
            self._container = engine.containers.run(
                image,
                name=self.name,
                detach=True,
                network_mode="host",
                environment={"PORT": str(self.port)},
                labels={"shipline.io/demo": "app"},
            )
        finally:
            engine.close()
        self.image = image
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self.url
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the app container ({image}) did not answer on {self.url}/healthz")
            time.sleep(0.2)

    def page(self) -> str:
        return requests.get(self.url + "/", timeout=5).text

    def stop(self) -> None:
        if self._container is not None:
            try:
                self._container.remove(force=True)
            except docker.errors.NotFound:
                pass
            self._container = None

    def _remove_leftover(self, engine: docker.DockerClient) -> None:
        try:
            engine.containers.get(self.name).remove(force=True)
        except docker.errors.NotFound:
            pass
