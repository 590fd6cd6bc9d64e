"""Is what runs what was built? Pure comparison of the new pods' images with the expected reference.

A container counts when its image names the expected repository (sidecars of other repositories are not
judged). With a digest expected, the pod's digest must equal it: the digest in the container status' imageID
(what the node actually pulled) or, when the runtime reports none, the digest in the pod spec. With only a
tag expected, the spec's tag must equal it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.images import ImageRef, parse_image

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class ImageVerdict:
    pods: int  # pods judged
    matching: int  # pods whose every container of the repository runs the expected image
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems and self.pods > 0


def _ref(image: str) -> ImageRef | None:
    try:
        return parse_image(image)
    except ValueError:
        return None


def running_digest(spec_image: str, status: Mapping[str, Any] | None) -> str:
    """The digest a container runs: from its status' imageID, else its status image, else its spec."""
    for candidate in ((status or {}).get("imageID"), (status or {}).get("image"), spec_image):
        found = DIGEST.search(candidate or "")
        if found:
            return found.group(0)
    return ""


def container_problem(expected: ImageRef, spec_image: str, status: Mapping[str, Any] | None) -> str:
    """ "" when the container runs `expected`, else what it runs instead."""
    if expected.digest:
        digest = running_digest(spec_image, status)
        if digest != expected.digest:
            return (
                f"runs {spec_image} ({digest[:19] + '…' if digest else 'no digest known'}), not {expected.digest[:19]}…"
            )
        return ""
    ref = _ref(spec_image)
    tag = (ref.tag if ref else "") or "latest"
    if tag != (expected.tag or "latest"):
        return f"runs {spec_image}, not tag {expected.tag or 'latest'}"
    return ""


def verify_pods(expected_image: str, pods: Iterable[Mapping[str, Any]]) -> ImageVerdict:
    """Judge every pod: each container of the expected repository must run the expected image."""
    expected = parse_image(expected_image)
    problems: list[str] = []
    judged = matching = 0
    for pod in pods:
        judged += 1
        name = (pod.get("metadata") or {}).get("name", "")
        containers = (pod.get("spec") or {}).get("containers") or []
        statuses = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or ()}
        ours = [c for c in containers if (r := _ref(c.get("image", ""))) and r.repository == expected.repository]
        if not ours:
            runs = ", ".join(c.get("image", "") for c in containers)
            problems.append(f"pod {name}: no container runs {expected.repository} (runs {runs})")
            continue
        found = [
            f"pod {name} container {c.get('name')}: {p}"
            for c in ours
            if (p := container_problem(expected, c.get("image", ""), statuses.get(c.get("name"))))
        ]
        problems.extend(found)
        matching += not found
    return ImageVerdict(judged, matching, tuple(problems))
