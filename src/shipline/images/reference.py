"""Image references: `[registry[:port]/]path[:tag][@sha256:<64 hex>]`, and registry hosts.

The grammar is the one Docker and OCI tools share (distribution's `reference` package): path
components are lower-case alphanumerics joined by `.`, `_`, `__` or runs of `-`; the first
component is a registry when it has a `.` or a `:`, or is `localhost`; a tag is at most 128
word characters, dots and dashes, not starting with either of the last two. A reference that
does not fit is refused before anything changes, so a typo never reaches a task definition.
Every registry that follows the grammar rejects upper case in a repository path.

A registry host is also of a kind (ECR, GHCR, other): ECR hosts carry the account and region
of the registry.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from shipline.errors import UsageError

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])"
# Each is used with fullmatch: `$` would also accept a final "\n".
_REGISTRY = re.compile(rf"{_HOST}(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A name (host + path) longer than this is refused by the Go reference parser.
NAME_MAX = 255


@dataclass(frozen=True)
class ImageRef:
    registry: str | None
    path: str
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        """The reference without tag and digest (`registry/path`)."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image_ref(text: str) -> ImageRef:
    """The parts of `text`; UsageError saying what is wrong when it is not a reference."""
    problem = _problem(text)
    if problem:
        raise UsageError(f"malformed image reference '{text}': {problem}")
    rest, _, digest = text.partition("@")
    name, tag = rest, None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        name, tag = rest[:colon], rest[colon + 1 :]
    first, slash, remainder = name.partition("/")
    if slash and _is_registry(first):
        return ImageRef(first, remainder, tag, digest or None)
    return ImageRef(None, name, tag, digest or None)


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _problem(text: str) -> str | None:
    """Why `text` is not an image reference, or None when it is one."""
    if not text or text != text.strip():
        return "empty or surrounded by spaces"
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        return "the digest must be sha256: followed by 64 lower-case hex digits"
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
    if tag is not None and not _TAG.fullmatch(tag):
        return (
            "the tag must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    if len(name) > NAME_MAX:
        return f"the name is longer than {NAME_MAX} characters"
    host, slash, path = name.partition("/")
    if slash and _is_registry(host):
        if not _REGISTRY.fullmatch(host):
            return f"'{host}' is not a registry host[:port]"
        return path_problem(path)
    return path_problem(name)


def path_problem(path: str) -> str | None:
    """Why `path` (a repository path, without the registry host) breaks the grammar, or None."""
    if not path:
        return "the repository path is empty"
    for component in path.split("/"):
        if not component:
            return "an empty component ('//' or a trailing '/') is not a repository path component"
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"component '{component}' is not a repository path component (lower-case "
                "letters and digits, joined by '.', '_', '__' or '-', not at its start or end)"
            )
    return None


def checked_digest(text: str, wanted: str, host: str) -> str:
    """A digest a registry answered, when it is `sha256:<64 lower-case hex>`; else UsageError.

    The answer itself is not repeated: it is foreign text.
    """
    if not _DIGEST.fullmatch(text):
        raise UsageError(
            f"{wanted}: registry {host} answered a digest that is not a sha256 digest "
            "(sha256: and 64 lower-case hex digits); nothing pinned"
        )
    return text


def is_host_name(name: str) -> bool:
    """A DNS name or an IP address (a URL's host name, without port)."""
    if re.fullmatch(_HOST, name):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class ImageNotFound(UsageError):
    """A reference names an image, tag or repository the registry does not have."""


# Registries: which kind a host is. ECR hosts carry the account and region of the registry.

_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]+)"
    r"\.amazonaws\.com(?:\.cn)?"
)


@dataclass(frozen=True)
class Registry:
    """A registry host and what kind it is: ECR (with its account and region), GHCR, other."""

    host: str
    kind: str  # ecr | ghcr | other
    account: str | None = None
    region: str | None = None


def parse_registry(text: str) -> Registry:
    """A registry host (`ghcr.io`, `<account>.dkr.ecr.<region>.amazonaws.com`, `host:5000`)."""
    host = text.strip()
    if not host:
        raise UsageError("registry is empty: give a host such as ghcr.io")
    if "://" in host:
        raise UsageError(f"registry '{text}' must be a host name without a scheme (no https://)")
    if "/" in host:
        raise UsageError(
            f"registry '{text}' must be a host name only; put the path into image_prefix"
        )
    if not _REGISTRY.fullmatch(host):
        raise UsageError(f"registry '{text}' is not a valid host name (letters, digits, '-', '.')")
    host = host.lower()
    # Without a dot or a port, `name/repo` means Docker Hub's namespace `name`, not a host.
    if "." not in host and ":" not in host and host != "localhost":
        raise UsageError(
            f"registry '{text}' needs a dot or a port (e.g. {host}.example.com or {host}:5000); "
            "a bare name would be read as a Docker Hub namespace"
        )
    ecr = _ECR_HOST.fullmatch(host)
    if ecr:
        return Registry(host, "ecr", account=ecr["account"], region=ecr["region"])
    if host == "ghcr.io":
        return Registry(host, "ghcr")
    return Registry(host, "other")
