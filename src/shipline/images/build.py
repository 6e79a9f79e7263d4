"""The build plan: the images shipline.yml names, the repository each is pushed to, and how
each kind of registry is logged in to. Pure decisions; the workflow turns the plan into its
build matrix.

Repository paths follow the image reference grammar (`shipline.images.reference`), lower case
in every registry: shipline lowercases the prefix it is given (GitHub's `github.repository`
keeps the owner's case; GHCR refuses it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from shipline.config import ImageSpec, load_config
from shipline.errors import UsageError
from shipline.images.reference import NAME_MAX, Registry, parse_registry, path_problem

# ECR is stricter than the grammar: one separator between alphanumerics, 2 to 256 characters.
_ECR_REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*")

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
    # shipline.yml's `promotion`: a tag push deploys the images to its first environment.
    promotion: tuple[str, ...] = ()

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
            "promotion": list(self.promotion),
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
            "promotion": json.dumps(list(self.promotion)),
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


def repository_path(registry: Registry, prefix: str, name: str) -> str:
    """The repository of image `name` under `prefix` in `registry`; UsageError when invalid."""
    path = f"{prefix}/{name}" if prefix else name
    problem = path_problem(path)
    if problem:
        raise UsageError(f"repository '{path}' is not a valid repository name: {problem}")
    if len(registry.host) + 1 + len(path) > NAME_MAX:
        raise UsageError(
            f"repository '{registry.host}/{path}' is longer than {NAME_MAX} characters"
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


def build_plan(registry_text: str, prefix_text: str, images: Iterable[ImageSpec]) -> BuildPlan:
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


def configured_build_plan(
    config_path: str | os.PathLike[str] | None, registry_text: str, prefix_text: str
) -> BuildPlan:
    """The build plan of the `images:` section of the shipline.yml at `config_path`."""
    config = load_config(config_path)
    if not config.images:
        raise UsageError(f"{config.source} has no `images:` section: nothing to build")
    plan = build_plan(registry_text, prefix_text, config.images.values())
    return replace(plan, promotion=config.promotion)
