"""The handoff between steps: docker-publish-tagger writes what it pushed; deploy and verify read it, so what
runs and what is verified is exactly what was built (by digest)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.errors import SettingsError

DEFAULT_PUBLISH_FILE = Path(".shipline/publish.json")


@dataclass(frozen=True)
class Published:
    repo: str
    tags: list[str]
    digest: str
    image: str  # repo@digest
    labels: dict[str, str] = field(default_factory=dict)
    build_number: str = ""
    commit: str = ""
    # A multi-platform image: `digest` is its index, this maps each platform (os/arch[/variant]) to its manifest.
    platforms: dict[str, str] = field(default_factory=dict)


def write_published(path: Path, published: Published) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(asdict(published), indent=2) + "\n")
    tmp.replace(path)


def write_outputs(published: Published, tags_file: Path, output_file: Path) -> None:
    """The handoff file and the tags file (comma-joined, Drone's `.tags` convention)."""
    tags_file.parent.mkdir(parents=True, exist_ok=True)
    tags_file.write_text(",".join(published.tags) + "\n")
    write_published(output_file, published)


def read_published(path: Path, setting: str) -> Published:
    """The handoff at `path`; SettingsError naming `setting` when it is missing or not a handoff file."""
    if not path.is_file():
        raise SettingsError(setting, f'"{path}" does not exist (run docker-publish-tagger first, or set image)')
    try:
        data = json.loads(path.read_text())
        return Published(**{k: data[k] for k in Published.__dataclass_fields__ if k in data})
    # ValueError: malformed JSON, undecodable bytes, a number past 4,300 digits; OSError: unreadable.
    except (ValueError, TypeError, RecursionError, OSError) as e:
        problem = str(e) if len(str(e)) < 200 else type(e).__name__
        raise SettingsError(setting, f'"{path}" is not a docker-publish-tagger handoff file ({problem})') from None
