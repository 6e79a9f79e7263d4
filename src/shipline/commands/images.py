"""`shipline images plan|ensure-repos|resolve|retag|copy|running`: what the build pushes, ECR,
digests, copies across registries, and what an environment runs now."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from shipline import console
from shipline.commands import at_least
from shipline.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from shipline.images.build import BuildPlan

# A lifecycle count: at least one image, one day.
_POSITIVE = at_least(int, 1, "a whole number")

HELP = (
    "plan the image build, set up ECR repositories, resolve tags to digests, retag in ECR, "
    "copy images between registries"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    plan = actions.add_parser(
        "plan", help="the repositories the build pushes to, and the build matrix"
    )
    _target_options(plan)

    ensure = actions.add_parser(
        "ensure-repos",
        help="create missing ECR repositories (immutable tags, scan on push, lifecycle policy)",
    )
    _target_options(ensure)
    ensure.add_argument(
        "--keep-tagged",
        type=_POSITIVE,
        default=100,
        metavar="N",
        help="lifecycle policy: keep the last N tagged images (default: 100)",
    )
    ensure.add_argument(
        "--untagged-days",
        type=_POSITIVE,
        default=7,
        metavar="DAYS",
        help="lifecycle policy: expire untagged images after DAYS days (default: 7)",
    )
    ensure.add_argument(
        "--kms-key",
        metavar="ARN",
        help="encrypt new repositories with this KMS key (default: AES256)",
    )
    ensure.add_argument(
        "--dry-run", action="store_true", help="report what would be created; change nothing"
    )

    resolve = actions.add_parser(
        "resolve",
        help="turn KEY=REF tags into KEY=repo@sha256:... and prove the images exist",
        description="Credentials for the registry SHIPLINE_REGISTRY names (default: ghcr.io) "
        "come from SHIPLINE_REGISTRY_USERNAME (default: $GITHUB_ACTOR) and "
        "SHIPLINE_REGISTRY_PASSWORD; no other registry gets them. ECR uses the AWS credentials.",
    )
    resolve.add_argument("refs", nargs="+", metavar="KEY=REF", help="e.g. api=ghcr.io/o/r/api:v1")

    retag = actions.add_parser(
        "retag",
        help="give an image already in ECR more tags (reuse a build instead of pushing it again)",
        description="ECR tags are immutable: a second build of one commit cannot push its "
        "sha-<commit> tag again. The build reuses the image that tag names and adds the new "
        "tags (a release version) to it instead.",
    )
    retag.add_argument(
        "ref",
        nargs="?",
        metavar="REF",
        help="an ECR image, e.g. <host>/agent-saas/api:sha-1a2b3c4",
    )
    retag.add_argument(
        "--build-tags",
        metavar="LINES",
        help="instead of REF and --tag: a build's tags, one reference per line; the "
        "sha-<commit> one is REF, the others' tags are added to it",
    )
    retag.add_argument(
        "--tag", dest="tags", action="append", default=[], metavar="TAG", help="a tag to add"
    )
    retag.add_argument(
        "--if-exists",
        action="store_true",
        help="when REF does not exist, report found=false and exit 0 (instead of exit 2)",
    )

    copy = actions.add_parser(
        "copy",
        help="copy an image to another registry or repository by digest (manifests and blobs)",
        description="Copies the manifest (an index and every child) and each blob the "
        "destination lacks, and prints DST@sha256:...; the digest never changes. Running it "
        "again resumes an interrupted copy. Credentials as for resolve; ECR registries use "
        "the AWS credentials.",
    )
    copy.add_argument(
        "source", metavar="SRC", help="an image, e.g. ghcr.io/o/r/api:v1 or ...@sha256:..."
    )
    copy.add_argument(
        "destination",
        metavar="DST",
        help="a repository, optionally with a tag, e.g. <host>/r/api:v1",
    )

    running = actions.add_parser(
        "running",
        help="KEY=REF: the image every image key of an environment runs now (from ECS)",
        description="For each image key of the environment, the image of its services' live "
        "task definitions, one KEY=REF line each: what Terraform must keep for a key the "
        "release gives no image (a key no service runs yet is left out, and that is said).",
    )
    running.add_argument("-e", "--environment", required=True, metavar="ENV", help="environment")


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        default=os.environ.get("SHIPLINE_REGISTRY"),
        help="registry host: ghcr.io, <account>.dkr.ecr.<region>.amazonaws.com, host:port "
        "(default: $SHIPLINE_REGISTRY)",
    )
    parser.add_argument(
        "--image-prefix",
        default=os.environ.get("SHIPLINE_IMAGE_PREFIX"),
        help="path before each image name, e.g. <owner>/<repo> or agent-saas "
        "(default: $SHIPLINE_IMAGE_PREFIX)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "resolve":
        return _resolve(args)
    if args.action == "retag":
        return _retag(args)
    if args.action == "copy":
        return _copy(args)
    if args.action == "running":
        return _running(args)
    plan = _plan(args)
    if args.action == "plan":
        return _show_plan(args, plan)
    return _ensure_repos(args, plan)


def _running(args: argparse.Namespace) -> int:
    from shipline import aws
    from shipline.config import USES_SERVICES, load_environment
    from shipline.release.running import running_images

    environment = load_environment(args.config, args.environment, uses=USES_SERVICES)
    found = running_images(environment, aws.client("ecs", environment.region))
    for note in found.notes:
        console.info(f"note: {note}")
    if args.json:
        console.emit_json({"images": found.images, "notes": found.notes})
    else:
        for key, reference in found.images.items():
            print(f"{key}={reference}")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> BuildPlan:
    from shipline.images.build import configured_build_plan

    if args.registry is None:
        raise UsageError("no registry: pass --registry HOST or set SHIPLINE_REGISTRY")
    if args.image_prefix is None:
        raise UsageError("no image prefix: pass --image-prefix PATH or set SHIPLINE_IMAGE_PREFIX")
    return configured_build_plan(args.config, args.registry, args.image_prefix)


def _show_plan(args: argparse.Namespace, plan: BuildPlan) -> int:
    from shipline import github
    from shipline.images.build import LOGIN

    for note in plan.notes:
        console.info(f"note: {note}")
    registry = plan.registry
    where = f" (account {registry.account}, {registry.region})" if registry.kind == "ecr" else ""
    login = LOGIN[registry.kind]["how"]
    console.result(f"{registry.host}: {registry.kind}{where}; log in: {login}", as_json=args.json)
    for image in plan.images:
        line = f"  {image.name}: {image.repository}  (context {image.context})"
        console.result(line, as_json=args.json)
    github.set_outputs(plan.outputs())
    if args.json:
        console.emit_json(plan.to_dict())
    return EXIT_OK


def _ensure_repos(args: argparse.Namespace, plan: BuildPlan) -> int:
    from shipline import github
    from shipline.images.repositories import RepositorySettings, ensure_repositories

    settings = RepositorySettings(
        encryption="KMS" if args.kms_key else "AES256",
        kms_key=args.kms_key,
        keep_tagged=args.keep_tagged,
        untagged_days=args.untagged_days,
    )
    actions = ensure_repositories(plan, settings, dry_run=args.dry_run)
    lines = []
    for action in actions:
        if action.action == "create":
            verb = "would create" if args.dry_run else "created"
            lines.append(f"{action.name}: {verb}")
        elif action.drift:
            lines.append(f"{action.name}: exists, left alone; drift: {'; '.join(action.drift)}")
            github.warning(
                f"{action.name}: {'; '.join(action.drift)}", title="ECR repository drift"
            )
        else:
            lines.append(f"{action.name}: exists, as shipline would set it up")
    for line in lines:
        console.info(line)
    github.append_summary(
        "### ECR repositories\n\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    )
    if args.json:
        console.emit_json(
            {
                "registry": plan.registry.host,
                "dry_run": args.dry_run,
                "repositories": [action.to_dict() for action in actions],
            }
        )
    return EXIT_OK


def _resolve(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.images.resolve import parse_key_refs, resolve_with_environment

    resolved = resolve_with_environment(parse_key_refs(args.refs))
    for key, image in resolved.items():
        console.info(f"{key}: {image.reference} -> {image.pinned}")
    github.set_outputs({key: image.pinned for key, image in resolved.items()})
    github.append_summary(
        "### Images by digest\n\n| key | image |\n| --- | --- |\n"
        + "".join(f"| {key} | `{image.pinned}` |\n" for key, image in resolved.items())
    )
    if args.json:
        console.emit_json({"images": {key: image.to_dict() for key, image in resolved.items()}})
    return EXIT_OK


def _retag(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.images.retag import retag, reuse_build

    if (args.ref is None) == (args.build_tags is None):
        raise UsageError("retag takes REF (with --tag) or --build-tags, one of the two")
    if args.build_tags is not None:
        result = reuse_build(args.build_tags, if_exists=args.if_exists)
    else:
        result = retag(args.ref, args.tags, if_exists=args.if_exists)
    if not result.found:
        console.info(f"{result.reason}: nothing to reuse")
        github.set_outputs({"found": False, "digest": "", "image": ""})
        if args.json:
            console.emit_json({"found": False, "reference": result.reference})
        return EXIT_OK
    console.info(f"{result.reference} is {result.image}")
    for tag, outcome in result.tags.items():
        console.info(f"  {tag}: {outcome}")
    github.set_outputs({"found": True, "digest": result.digest, "image": result.image})
    if args.json:
        console.emit_json(
            {
                "found": True,
                "reference": result.reference,
                "image": result.image,
                "digest": result.digest,
                "tags": result.tags,
            }
        )
    return EXIT_OK


def _copy(args: argparse.Namespace) -> int:
    from shipline import github
    from shipline.images.copy import CopyStep, copy_image
    from shipline.images.oci import RegistryCredentials

    credentials = RegistryCredentials.from_environment(os.environ)
    steps: list[CopyStep] = []

    def report(step: CopyStep) -> None:
        steps.append(step)
        console.info(step.line())

    image = copy_image(
        args.source,
        args.destination,
        credentials=[credentials] if credentials else [],
        report=report,
    )
    console.result(image, as_json=args.json)
    github.set_outputs({"image": image, "digest": image.rpartition("@")[2]})
    if args.json:
        console.emit_json(
            {
                "source": args.source,
                "destination": args.destination,
                "image": image,
                "digest": image.rpartition("@")[2],
                "steps": [step.to_dict() for step in steps],
            }
        )
    return EXIT_OK
