"""Images: what the build produces and where it goes, and the ECR repositories it pushes to.

The first part is pure decisions (no network): the build plan the workflow turns into its
matrix, the OCI distribution name grammar for repository names, how an ECR repository should
be set up and how an existing one drifts from that. The last part acts on them in ECR
(`ensure_repositories`). Registry hosts, image references and the look-ups of what a registry
holds (tags to digests, re-tagging in ECR) are in `shipline.images.oci`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipline.errors import ShiplineError, UsageError
from shipline.images.oci import Registry, parse_image_ref, parse_registry

# The OCI distribution name grammar (distribution-spec "Pulling manifests"; the Go reference
# package). A repository path is components of lower-case letters and digits joined by '.',
# '_', '__' or runs of '-', separated by '/'. Every registry that follows the grammar rejects
# upper case, so shipline lowercases the prefix it is given (GitHub's `github.repository` keeps
# the owner's case; GHCR refuses it).
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
# ECR is stricter than the grammar: one separator between alphanumerics, 2 to 256 characters.
_ECR_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")
# A reference (host + path) longer than this is refused by the Go reference parser.
NAME_TOTAL_LENGTH_MAX = 255

# How each kind of registry is logged in to, for the plan's readers (the workflow, people).
LOGIN = {
    "ecr": {
        "method": "aws",
        "how": "configure AWS credentials (an OIDC role, or access keys), then "
        "aws-actions/amazon-ecr-login",
        "permissions": "id-token: write (OIDC only)",
    },
    "ghcr": {
        "method": "github-token",
        "how": "docker/login-action with the job's GITHUB_TOKEN as the password",
        "permissions": "packages: write",
    },
    "other": {
        "method": "credentials",
        "how": "docker/login-action with the REGISTRY_USERNAME and REGISTRY_PASSWORD secrets",
        "permissions": "none",
    },
}


@dataclass(frozen=True)
class PlannedImage:
    """One image the build produces: where it is pushed and how it is built."""

    name: str
    repository: str  # host + path: what `docker push` and a deploy's image reference use
    path: str  # the repository's name inside the registry (an ECR repository name)
    context: str
    dockerfile: str
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)

    def matrix_entry(self) -> dict[str, str]:
        """The build job's matrix row; build args as build-push-action's KEY=VALUE lines."""
        return {
            "name": self.name,
            "repository": self.repository,
            "context": self.context,
            "dockerfile": self.dockerfile,
            "target": self.target or "",
            "build_args": "\n".join(f"{key}={value}" for key, value in self.build_args.items()),
        }


@dataclass(frozen=True)
class BuildPlan:
    registry: Registry
    image_prefix: str
    images: tuple[PlannedImage, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry.host,
            "kind": self.registry.kind,
            "ecr": (
                {"account": self.registry.account, "region": self.registry.region}
                if self.registry.kind == "ecr"
                else None
            ),
            "login": dict(LOGIN[self.registry.kind]),
            "image_prefix": self.image_prefix,
            "images": [image.matrix_entry() | {"path": image.path} for image in self.images],
            "notes": list(self.notes),
        }

    def outputs(self) -> dict[str, str]:
        """The plan as GitHub outputs: the matrix, the registry kind, ECR's region."""
        return {
            "registry": self.registry.host,
            "kind": self.registry.kind,
            "aws_region": self.registry.region or "",
            "aws_account": self.registry.account or "",
            "image_prefix": self.image_prefix,
            "matrix": json.dumps({"include": [image.matrix_entry() for image in self.images]}),
            "repositories": json.dumps({image.name: image.repository for image in self.images}),
        }


def normalize_prefix(text: str) -> tuple[str, list[str]]:
    """The image prefix lowercased and without outer slashes, and notes on what changed."""
    prefix = text.strip().strip("/")
    notes = []
    if prefix != prefix.lower():
        notes.append(
            f"image_prefix '{prefix}' lowercased to '{prefix.lower()}' "
            "(repository names are lower case in every registry)"
        )
        prefix = prefix.lower()
    return prefix, notes


def path_problem(path: str) -> str | None:
    """Why `path` breaks the OCI repository name grammar, or None."""
    if not path:
        return "it is empty"
    for component in path.split("/"):
        if not component:
            return "it has an empty component ('//' or a trailing '/')"
        if not _PATH_COMPONENT.fullmatch(component):
            return (
                f"component '{component}' must be lower-case letters and digits, joined by "
                "'.', '_', '__' or '-' (not at its start or end)"
            )
    return None


def repository_path(registry: Registry, prefix: str, name: str) -> str:
    """The repository of image `name` under `prefix` in `registry`; UsageError when invalid."""
    path = f"{prefix}/{name}" if prefix else name
    problem = path_problem(path)
    if problem:
        raise UsageError(f"repository '{path}' is not a valid repository name: {problem}")
    if len(registry.host) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX:
        raise UsageError(
            f"repository '{registry.host}/{path}' is longer than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if registry.kind == "ecr" and not (2 <= len(path) <= 256 and _ECR_REPOSITORY.fullmatch(path)):
        raise UsageError(
            f"repository '{path}' is not a valid ECR repository name: ECR allows one '.', '_' "
            "or '-' between letters and digits, 2 to 256 characters"
        )
    if registry.kind == "ghcr" and "/" not in path:
        raise UsageError(
            "GHCR repositories live under an owner: image_prefix must start with <owner>, "
            "e.g. <owner>/<repo>"
        )
    return path


@dataclass(frozen=True)
class ImageSource:
    """How one image is built (the fields of shipline.yml's `images` entries)."""

    name: str
    context: str
    dockerfile: str
    target: str | None = None
    build_args: Mapping[str, str] = field(default_factory=dict)


def build_plan(registry_text: str, prefix_text: str, images: Iterable[ImageSource]) -> BuildPlan:
    """The images the build pushes: one repository per image under `registry/prefix`."""
    registry = parse_registry(registry_text)
    prefix, notes = normalize_prefix(prefix_text)
    sources = list(images)
    if not sources:
        raise UsageError("no images to build: add an `images:` section to shipline.yml")
    planned = []
    for source in sources:
        path = repository_path(registry, prefix, source.name)
        planned.append(
            PlannedImage(
                name=source.name,
                repository=f"{registry.host}/{path}",
                path=path,
                context=source.context,
                dockerfile=source.dockerfile,
                target=source.target,
                build_args=dict(source.build_args),
            )
        )
    return BuildPlan(registry, prefix, tuple(planned), tuple(notes))


# ECR repositories: how shipline creates them, and how an existing one differs from that.


@dataclass(frozen=True)
class RepositorySettings:
    """The settings ensure-repos gives a new ECR repository (and checks on existing ones).

    IMMUTABLE tags: a tag, once pushed, always names the same image, so a record or a deploy by
    tag can never be changed behind its back. The build pushes only unique tags (the version of
    a git tag, `sha-<commit>`), which is what immutable tags require.
    """

    tag_mutability: str = "IMMUTABLE"
    scan_on_push: bool = True
    encryption: str = "AES256"
    kms_key: str | None = None
    keep_tagged: int = 100
    untagged_days: int = 7

    def lifecycle_policy(self) -> dict[str, Any]:
        return {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"expire untagged images after {self.untagged_days} days",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": self.untagged_days,
                    },
                    "action": {"type": "expire"},
                },
                {
                    "rulePriority": 2,
                    "description": f"keep the last {self.keep_tagged} tagged images",
                    "selection": {
                        "tagStatus": "tagged",
                        "tagPatternList": ["*"],
                        "countType": "imageCountMoreThan",
                        "countNumber": self.keep_tagged,
                    },
                    "action": {"type": "expire"},
                },
            ]
        }


@dataclass(frozen=True)
class ObservedRepository:
    """An existing ECR repository as DescribeRepositories and GetLifecyclePolicy show it."""

    name: str
    uri: str
    tag_mutability: str
    scan_on_push: bool
    encryption: str
    kms_key: str | None
    lifecycle_policy: dict[str, Any] | None


def repository_drift(settings: RepositorySettings, observed: ObservedRepository) -> list[str]:
    """How an existing repository differs from the settings shipline would give it."""
    drift = []
    if observed.tag_mutability != settings.tag_mutability:
        drift.append(
            f"tag mutability is {observed.tag_mutability}, expected {settings.tag_mutability}"
        )
    if observed.scan_on_push != settings.scan_on_push:
        state = "on" if observed.scan_on_push else "off"
        drift.append(
            f"scan on push is {state}, expected {'on' if settings.scan_on_push else 'off'}"
        )
    if observed.encryption != settings.encryption:
        drift.append(f"encryption is {observed.encryption}, expected {settings.encryption}")
    elif settings.kms_key and observed.kms_key != settings.kms_key:
        drift.append(f"KMS key is {observed.kms_key}, expected {settings.kms_key}")
    if observed.lifecycle_policy is None:
        drift.append("no lifecycle policy")
    elif _rules(observed.lifecycle_policy) != _rules(settings.lifecycle_policy()):
        drift.append("lifecycle policy differs from shipline's (untagged expiry, keep last N)")
    return drift


def _rules(policy: Mapping[str, Any]) -> list[str]:
    # Compare what the rules do, not their descriptions or key order.
    rules = []
    for rule in policy.get("rules", []):
        essential = {k: v for k, v in rule.items() if k != "description"}
        rules.append(json.dumps(essential, sort_keys=True))
    return sorted(rules)


@dataclass(frozen=True)
class RepositoryAction:
    """What ensure-repos does with one repository: create it, or report it as it is."""

    name: str
    action: str  # "create" | "exists"
    drift: tuple[str, ...] = ()
    uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "drift": list(self.drift),
            "uri": self.uri,
        }


def repository_actions(
    paths: Iterable[str],
    observed: Mapping[str, ObservedRepository | None],
    settings: RepositorySettings,
) -> list[RepositoryAction]:
    """Create what is missing; leave what exists alone, with its drift from `settings`."""
    actions = []
    for path in paths:
        found = observed.get(path)
        if found is None:
            actions.append(RepositoryAction(path, "create"))
        else:
            drift = tuple(repository_drift(settings, found))
            actions.append(RepositoryAction(path, "exists", drift, found.uri))
    return actions


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


# Acting on the plan: ECR repositories through boto3.


def observe_repository(ecr: Any, account: str, path: str) -> ObservedRepository | None:
    """The ECR repository `path` as it is now, or None when it does not exist."""
    try:
        described = ecr.describe_repositories(registryId=account, repositoryNames=[path])
    except ecr.exceptions.RepositoryNotFoundException:
        return None
    repository = described["repositories"][0]
    try:
        text = ecr.get_lifecycle_policy(registryId=account, repositoryName=path)
        policy = json.loads(text["lifecyclePolicyText"])
    except ecr.exceptions.LifecyclePolicyNotFoundException:
        policy = None
    encryption = repository.get("encryptionConfiguration") or {}
    return ObservedRepository(
        name=path,
        uri=repository["repositoryUri"],
        tag_mutability=repository.get("imageTagMutability", "MUTABLE"),
        scan_on_push=bool(
            (repository.get("imageScanningConfiguration") or {}).get("scanOnPush", False)
        ),
        encryption=encryption.get("encryptionType", "AES256"),
        kms_key=encryption.get("kmsKey"),
        lifecycle_policy=policy,
    )


def create_repository(ecr: Any, account: str, path: str, settings: RepositorySettings) -> str:
    """Create `path` with `settings` and its lifecycle policy; its URI."""
    encryption = {"encryptionType": settings.encryption}
    if settings.kms_key:
        encryption["kmsKey"] = settings.kms_key
    created = ecr.create_repository(
        registryId=account,
        repositoryName=path,
        imageTagMutability=settings.tag_mutability,
        imageScanningConfiguration={"scanOnPush": settings.scan_on_push},
        encryptionConfiguration=encryption,
        tags=[{"Key": "managed-by", "Value": "shipline"}],
    )
    ecr.put_lifecycle_policy(
        registryId=account,
        repositoryName=path,
        lifecyclePolicyText=json.dumps(settings.lifecycle_policy()),
    )
    uri: str = created["repository"]["repositoryUri"]
    return uri


def ensure_repositories(
    plan: BuildPlan, settings: RepositorySettings, *, dry_run: bool = False
) -> list[RepositoryAction]:
    """Create the plan's missing ECR repositories; report how existing ones drift."""
    from shipline import aws

    registry = plan.registry
    if registry.kind != "ecr" or registry.account is None:
        raise UsageError(
            f"ensure-repos manages ECR repositories; {registry.host} is not an ECR registry "
            "(GHCR creates a package on its first push)"
        )
    caller = aws.client("sts", registry.region).get_caller_identity()["Account"]
    if caller != registry.account:
        raise UsageError(
            f"the AWS credentials are for account {caller}, but the registry "
            f"{registry.host} belongs to account {registry.account}"
        )
    ecr = aws.client("ecr", registry.region)
    paths = [image.path for image in plan.images]
    observed = {path: observe_repository(ecr, registry.account, path) for path in paths}
    actions = repository_actions(paths, observed, settings)
    if dry_run:
        return actions
    done = []
    for action in actions:
        if action.action != "create":
            done.append(action)
            continue
        try:
            uri = create_repository(ecr, registry.account, action.name, settings)
        except ecr.exceptions.RepositoryAlreadyExistsException:
            # Created meanwhile by a parallel run: report it as it is.
            found = observe_repository(ecr, registry.account, action.name)
            if found is None:
                raise ShiplineError(
                    f"ECR repository {action.name} appeared and vanished while being created"
                ) from None
            drift = tuple(repository_drift(settings, found))
            done.append(RepositoryAction(action.name, "exists", drift, found.uri))
        else:
            done.append(RepositoryAction(action.name, "create", (), uri))
    return done
