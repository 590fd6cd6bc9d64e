"""The formats a string setting (or each item of a list, each value of a map) can be declared with.

`Setting(..., format="namespace")` makes the settings module check the value here; the docs table shows the
format's name. Each check returns why the value is wrong ("" when it is right), so one message names the setting.
Kubernetes names follow the API server's rules per object kind (apimachinery's validation package).
"""

from __future__ import annotations

import glob
import re
import warnings
from collections.abc import Callable
from urllib.parse import urlsplit

from shared.images import parse_image, parse_repository
from shared.selectors import check_label_key, check_label_value, parse_field_selector, parse_label_selector

DNS1123_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*")
DNS1035_LABEL = re.compile(r"[a-z](?:[-a-z0-9]*[a-z0-9])?")
NAME_MAX, PATH_MAX = 255, 4095  # Linux's limits on one file name and a whole path, in bytes
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token


def _name(pattern: re.Pattern[str], limit: int, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit:
            return f"is {len(value)} characters long; a {what} has at most {limit}"
        if not pattern.fullmatch(value):
            return f"is not a {what} (lower case letters, digits and -{', .' if pattern is DNS1123_SUBDOMAIN else ''})"
        return ""

    return check


def _raises(parse: Callable[[str], object], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            parse(value)
        except ValueError as e:
            return f"is not {what}: {e}"
        return ""

    return check


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def check(value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError:
            return "is not a URL (its host or port is malformed)"
        if parts.scheme not in schemes or not parts.hostname or any(c.isspace() for c in value):
            return f"is not an {_schemes(schemes)} URL with a host"
        return ""

    return check


def _schemes(schemes: tuple[str, ...]) -> str:
    return "http(s)" if schemes == ("http", "https") else "/".join(schemes)


def _regex(value: str) -> str:
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: Python's future, not the operator's
            warnings.simplefilter("ignore")
            re.compile(value)
    except (re.error, OverflowError, RecursionError) as e:
        return f"is not a valid regex ({e})"
    return ""


def _label(value: str) -> str:
    key, sep, val = value.partition("=")
    problem = check_label_key(key) or (check_label_value(val) if sep else "")
    return f"is not a label key or key=value: {problem}" if problem else ""


def _registry(value: str) -> str:
    host = value.removeprefix("https://").removeprefix("http://").rstrip("/")
    # A host is a registry when "<host>/x" is an image reference naming it.
    return "" if "/" not in host and not _raises(parse_image, "")(f"{host}/x") else "is not a registry host[:port]"


def _pattern(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)
    return lambda value: "" if compiled.fullmatch(value) else f"is not {what}"


def check_path(value: str) -> str:
    """Why the file system would refuse `value` as a path (ENAMETOOLONG), or ""."""
    if len(value.encode(errors="replace")) > PATH_MAX or any(
        len(part.encode(errors="replace")) > NAME_MAX for part in value.split("/")
    ):
        return f"is longer than a file system allows ({NAME_MAX} bytes a name, {PATH_MAX} a path)"
    return ""


def _manifest_entry(value: str) -> str:
    if check_path(value):
        return check_path(value)
    # A wildcard outside the working directory could walk the whole file system ("/**/*.yaml").
    if glob.has_magic(value) and (value.startswith(("/", "~")) or ".." in re.split(r"[\\/]", value)):
        return "is a glob outside the working directory (name files outside it without wildcards)"
    return ""


def _workload(value: str) -> str:
    from shared.rollout import parse_workload

    try:
        _, name = parse_workload(value)
    except ValueError as e:
        return f"is not kind/name: {e}"
    return _name(DNS1123_SUBDOMAIN, 253, "workload name")(name) if name else "has no name after the kind"


def _docker_host(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("unix", "tcp", "ssh", "http", "https", "npipe") or not rest.strip():
        return "is not a Docker host (unix:///path, tcp://host:port, ssh://user@host)"
    return _url(("tcp", "ssh", "http", "https"))(value) if scheme not in ("unix", "npipe") else ""


def _buildkit_addr(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("tcp", "unix") or not rest.strip():
        return "is not a BuildKit address (tcp://host:port, unix:///path)"
    return _url(("tcp",))(value) if scheme == "tcp" else ""


# format name -> check. Names are what the docs table shows.
FORMATS: dict[str, Callable[[str], str]] = {
    "image": _raises(parse_image, "an image reference"),
    "repository": _raises(parse_repository, "an image repository"),
    "registry": _registry,
    "namespace": _name(DNS1123_LABEL, 63, "namespace name"),
    "deployment": _name(DNS1123_SUBDOMAIN, 253, "Deployment name"),
    "ingress": _name(DNS1123_SUBDOMAIN, 253, "Ingress name"),
    "workload": _workload,
    "route": _name(DNS1123_SUBDOMAIN, 253, "HTTPRoute name"),
    "service": _name(DNS1035_LABEL, 63, "Service name (starting with a letter)"),
    "container": _name(DNS1123_LABEL, 63, "container name"),
    "release": _name(DNS1123_SUBDOMAIN, 53, "Helm release name"),
    "label_selector": _raises(parse_label_selector, "a label selector"),
    "pod_field_selector": _raises(parse_field_selector, "a pod field selector"),
    "label": _label,
    "http_url": _url(("http", "https")),
    "chart_repo_url": _url(("http", "https", "oci")),
    "docker_host": _docker_host,
    "buildkit_addr": _buildkit_addr,
    "regex": _regex,
    "header_name": _pattern(_HEADER_NAME.pattern, "an HTTP header name"),
    # A header value may be a secret, so this message never quotes it; a line break would inject a header.
    "header_value": _pattern(r"[^\r\n\x00]*", "a header value (it holds a line break)"),
    "values_key": _pattern(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*", "a dotted values key (e.g. image.repository)"),
    "env_name": _pattern(r"[A-Za-z_][A-Za-z0-9_]{0,254}", "an environment variable name (at most 255 characters)"),
    "tag": _pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "a tag (letters, digits, _ . -, at most 128)"),
    "tag_prefix": _pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", "a tag prefix (letters, digits, _ . -)"),
    "tag_suffix": _pattern(r"[A-Za-z0-9_.-]{1,64}", "a tag suffix (letters, digits, _ . -)"),
    "stage": _pattern(r"[A-Za-z][A-Za-z0-9_.-]{0,127}", "a build stage name"),
    "network": _pattern(r"(?:container:)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", "a Docker network name"),
    "platform": _pattern(r"[a-z0-9_]+(?:/[a-z0-9_]+){0,2}(?:,[a-z0-9_]+(?:/[a-z0-9_]+){0,2})*", "os/arch[/variant]"),
    "int_or_percent": _pattern(r"[0-9]{1,9}%?", "a number or a percentage (e.g. 1, 25%)"),
    "helm_set": _pattern(r"[^=\s][^=]*=.*", "key=value"),
    "manifest_entry": _manifest_entry,
    "path": check_path,
    "version": _pattern(r"[A-Za-z0-9_.+~^<>=!*, -]{1,128}", "a version or version range"),
}


def check_format(name: str, value: str) -> str:
    """Why `value` is not a `name` ("" when it is one)."""
    return FORMATS[name](value)
