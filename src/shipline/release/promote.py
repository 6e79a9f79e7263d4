"""`shipline promote`: the exact images of a release of one environment, deployed to another.

In order: read the source environment's history -> choose the release (pure,
`promotion_source`: the live one by default, replayed as rollback does) -> the reference each
image has in the target (pure, `target_reference`: the same digest, in the target's `registry`
when it has one) -> make sure the target can pull every digest (copied first when it pulls
from another registry) -> the normal deploy of those references to the target (preflight,
lock, migration, rollout, health, record, automatic rollback), its record naming the source
release in `promoted_from`.

Every refusal (a source release that did not succeed, was rolled back since, is not a deploy,
runs an image not pinned by digest; a digest the target cannot pull; a locked target) is exit 2
before anything changes in the target.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shipline import console
from shipline.errors import PreflightError, UsageError
from shipline.images.reference import parse_image_ref

if TYPE_CHECKING:
    from shipline.config import Environment
    from shipline.release.deploy import DeployResult
    from shipline.release.records import ReleaseRecord
    from shipline.release.stopping import StopSignal


@dataclass(frozen=True)
class PromotedImage:
    """One image of the source release and the reference the target runs it by."""

    key: str
    source: str  # as the source's record has it: `repo[:tag]@sha256:...`
    target: str  # the same digest where the target pulls from
    digest: str

    @property
    def needs_copy(self) -> bool:
        """The target pulls from another repository than the one the source ran it from."""
        return parse_image_ref(self.source).repository != parse_image_ref(self.target).repository


# --- pure decisions --------------------------------------------------------------------------


def promotion_source(records: Iterable[ReleaseRecord], release_id: str | None) -> ReleaseRecord:
    """The release to promote: `release_id`, or the source's live release (records.replay).

    A named release must be a deploy that succeeded, moved services and was not rolled back
    since (abandoned, as `rollback_target` counts it). UsageError (exit 2) otherwise.
    """
    from shipline.release.records import chronological, replay

    history = chronological(records)
    replayed = replay(history)
    if release_id is None:
        if replayed.live is None:
            raise UsageError("nothing to promote: no release has succeeded in this environment")
        return replayed.live
    named = next((record for record in history if record.release_id == release_id), None)
    if named is None:
        raise UsageError(f"no release {release_id} in this environment's history")
    if named.kind != "deploy":
        raise UsageError(
            f"release {release_id} is a {named.kind}, not a deploy: only a deploy's images are "
            "promoted"
            + (f" (it returned to {named.rolled_back_to})" if named.rolled_back_to else "")
        )
    if named.status != "succeeded":
        raise UsageError(
            f"release {release_id} ended {named.status}: only a release that succeeded is promoted"
        )
    if release_id in replayed.abandoned:
        raise UsageError(
            f"release {release_id} was rolled back since: it is not promoted"
            + (f" (the live release is {replayed.live.release_id})" if replayed.live else "")
        )
    if not named.services:
        raise UsageError(f"release {release_id} moved no service: it ran nothing to promote")
    return named


def target_reference(source: str, registry: str | None) -> tuple[str, str]:
    """(the reference the target runs, its digest) for the pinned image `source`.

    Without a `registry`, the target pulls `source` itself. With one (`host[:port][/prefix]`),
    the image is `<registry>/<name>@<digest>`, `<name>` being the last component of the source
    repository's path: the build names every repository `<registry>/<image_prefix>/<name>`, so
    one rule maps a staging repository to production's. UsageError when `source` is not pinned
    by digest or the result is not a reference.
    """
    ref = parse_image_ref(source)
    if ref.digest is None:
        raise UsageError(
            f"image {source} is not pinned by digest (repo@sha256:...): the digest is what is "
            "promoted"
        )
    if registry is None:
        return source, ref.digest
    name = ref.path.rsplit("/", 1)[-1]
    target = f"{registry.rstrip('/')}/{name}@{ref.digest}"
    if parse_image_ref(target).repository == ref.repository:
        return source, ref.digest  # the source already lives where the target pulls from
    return target, ref.digest


def promoted_images(record: ReleaseRecord, registry: str | None) -> dict[str, PromotedImage]:
    """Image key -> what the target runs, for every image of the source release (pure)."""
    if not record.images:
        raise UsageError(f"release {record.release_id} records no images: nothing to promote")
    promoted, problems = {}, []
    for key, source in sorted(record.images.items()):
        try:
            target, digest = target_reference(source, registry)
        except UsageError as exc:
            problems.append(f"{key}: {exc.message}")
            continue
        promoted[key] = PromotedImage(key, source, target, digest)
    if problems:
        raise UsageError(f"release {record.release_id} cannot be promoted: " + "; ".join(problems))
    return promoted


# --- the flow ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromoteRequest:
    source: Environment
    target: Environment
    release_id: str | None = None  # default: the source's live release
    skip_preflight: frozenset[str] = frozenset()


def promote(
    request: PromoteRequest,
    *,
    stop: StopSignal | None = None,
    report: Callable[[str], None] = console.info,
) -> DeployResult:
    """Choose the release, make its digests pullable by the target, deploy them there."""
    from shipline.env import rules as envrules
    from shipline.release.deploy import Deploy, DeployRequest
    from shipline.release.session import refuse_if_locked
    from shipline.release.store import History

    source, target = request.source, request.target
    if source.name == target.name:
        raise UsageError(f"--from and --to both name {source.name}: promote to another environment")
    history = History(source)
    history.check_reachable()  # PreflightError (exit 2) when the source's history cannot be read
    records = history.list()
    for skipped in history.unreadable:
        report(f"ignored {skipped.uri} (it {skipped.reason})")
    chosen = promotion_source(records, request.release_id)
    images = promoted_images(chosen, target.registry)
    report(f"promoting {source.name} release {chosen.release_id} to {target.name}")
    for image in images.values():
        report(f"image {image.key}: {image.target}")
    # Before anything is copied into the target's registry: a locked target refuses at once.
    refuse_if_locked(target)
    if envrules.IMAGE_DIGESTS not in request.skip_preflight:
        make_pullable(images, report)
    deploy = DeployRequest(
        environment=target,
        images={key: image.target for key, image in images.items()},
        task_definitions={},
        skip_preflight=request.skip_preflight,
        promoted_from={"environment": source.name, "release_id": chosen.release_id},
    )
    return Deploy(deploy, stop=stop, report=report).run()


def make_pullable(images: Mapping[str, PromotedImage], report: Callable[[str], None]) -> None:
    """Every digest is in the repository the target pulls from, copied there first when the
    target pulls from another repository (`shipline images copy`, by digest); PreflightError
    (exit 2) naming each one that is not, or that the registry could not be asked about."""
    from botocore.exceptions import BotoCoreError, ClientError

    from shipline.env import rules as envrules
    from shipline.errors import ShiplineError
    from shipline.images.reference import ImageNotFound
    from shipline.images.resolve import resolve_with_environment

    problems = []
    for key, image in images.items():
        try:
            found = resolve_with_environment({key: image.target})[key].digest
        except ImageNotFound as exc:
            if not image.needs_copy:
                problems.append(f"{exc.message} (the target pulls {image.target})")
                continue
            try:
                found = copy_to_target(image, report)
            except (ShiplineError, BotoCoreError, ClientError) as failed:
                why = failed.message if isinstance(failed, ShiplineError) else str(failed)
                problems.append(f"{cannot_pull(image)} ({why})")
                continue
        except (UsageError, BotoCoreError, ClientError) as exc:
            reason = exc.message if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}"
            problems.append(
                f"{key}: could not check that the target can pull {image.target}: {reason} "
                f"(skip this check with --skip-preflight {envrules.IMAGE_DIGESTS} only if the "
                "registry cannot be asked)"
            )
            continue
        if found != image.digest:  # a registry answering another digest is not trusted
            problems.append(f"{key}: {image.target} resolves to another digest")
            continue
        report(f"image {key}: the target's registry has {image.digest}")
    if problems:
        raise PreflightError("; ".join(problems))


def copy_to_target(image: PromotedImage, report: Callable[[str], None]) -> str:
    """Copy `image` into the repository the target pulls from (manifests and missing blobs,
    by digest); the digest that landed there."""
    from shipline.images.copy import CopyStep, copy_image
    from shipline.images.oci import RegistryCredentials

    repository = parse_image_ref(image.target).repository
    report(f"image {image.key}: copying {image.source} to {repository}")
    credentials = RegistryCredentials.from_environment(os.environ)

    def step(done: CopyStep) -> None:
        report(f"image {image.key}: {done.line()}")

    copied = copy_image(
        image.source, repository, credentials=[credentials] if credentials else [], report=step
    )
    return parse_image_ref(copied).digest or ""


def cannot_pull(image: PromotedImage) -> str:
    return (
        f"the target cannot pull {image.target}; copy it first with "
        f"`shipline images copy {image.source} {parse_image_ref(image.target).repository}`"
    )
