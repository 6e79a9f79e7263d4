"""ECR repositories for the build plan (`images ensure-repos`): how shipline sets one up, how
an existing one drifts from that, and creating the missing ones.

The decisions are pure (settings, drift, actions); `ensure_repositories` acts on them in ECR.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipline.errors import ShiplineError, UsageError
from shipline.images.build import BuildPlan


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
