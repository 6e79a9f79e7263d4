"""Reuse an image already in ECR instead of pushing it again (`images retag`).

ECR tags are immutable: a second build of one commit cannot push its `sha-<commit>` tag again.
It reuses the image that tag names and adds its other tags (a release version) to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shipline.errors import UsageError
from shipline.images.ecr import ecr_add_tags, ecr_digest
from shipline.images.reference import ImageNotFound, parse_image_ref, parse_registry


@dataclass(frozen=True)
class Retagged:
    """What a retag did: the image `reference` names, and each tag `added` or `present`; or,
    with `found` false, why there was nothing to reuse."""

    reference: str | None
    found: bool
    digest: str = ""
    image: str = ""  # repository@digest
    tags: dict[str, str] = field(default_factory=dict)
    reason: str = ""


def reuse_plan(build_tags: str) -> tuple[str | None, list[str]]:
    """From a build's tags (full references, one per line, as docker/metadata-action lists
    them): the `sha-<commit>` reference an earlier build of the commit pushed, and the other
    tags to add to that image instead of pushing a new one."""
    source, tags, repositories = None, [], set()
    for line in build_tags.splitlines():
        if not line.strip():
            continue
        ref = parse_image_ref(line.strip())
        repositories.add(ref.repository)
        if ref.tag is None or ref.digest:
            raise UsageError(f"build tag '{line.strip()}' must be repository:tag")
        if ref.tag.startswith("sha-"):
            if source is not None:
                raise UsageError(f"build tags name two commits: {source} and {line.strip()}")
            source = line.strip()
        else:
            tags.append(ref.tag)
    if len(repositories) > 1:
        raise UsageError(f"build tags name several repositories: {', '.join(sorted(repositories))}")
    return source, tags


def reuse_build(build_tags: str, *, if_exists: bool) -> Retagged:
    """Add a build's tags to the image its `sha-<commit>` tag names (see `reuse_plan`)."""
    reference, tags = reuse_plan(build_tags)
    if reference is None:
        if not if_exists:
            raise UsageError("the build tags have no sha-<commit> tag to reuse")
        return Retagged(None, found=False, reason="no sha-<commit> tag among the build tags")
    return retag(reference, tags, if_exists=if_exists)


def retag(reference: str, tags: Iterable[str], *, if_exists: bool) -> Retagged:
    """Give the ECR image `reference` names more tags; with `if_exists`, an image that is not
    there is reported (found false) instead of refused."""
    ref = parse_image_ref(reference)
    registry = parse_registry(ref.registry or "docker.io")
    if registry.kind != "ecr":
        raise UsageError(f"retag works on ECR images; {reference} is not in an ECR registry")
    tags = list(tags)
    for tag in tags:
        parse_image_ref(f"{ref.repository}:{tag}")  # refuses a malformed tag
    try:
        digest = ecr_digest(registry, ref.path, ref.tag or "latest", ref.digest)
    except ImageNotFound as exc:
        if not if_exists:
            raise
        return Retagged(reference, found=False, reason=exc.message)
    outcomes = ecr_add_tags(registry, ref.path, digest, tags)
    image = f"{ref.repository}@{digest}"
    return Retagged(reference, found=True, digest=digest, image=image, tags=outcomes)
