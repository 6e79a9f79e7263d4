"""What a deploy will do, decided without AWS: which services move, to what, and whether it may.

Everything here is a pure function of the config, the command line and what AWS described,
so the decisions are tested without a server and a dry run prints exactly what a real run
would register.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shipline.config import Environment, Service
from shipline.errors import UsageError
from shipline.images.reference import parse_image_ref
from shipline.keyvalues import parse_key_values

# DescribeTaskDefinition answers with these; RegisterTaskDefinition refuses them.
READ_ONLY_FIELDS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)

TASK_DEFINITION_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/[A-Za-z0-9_-]{1,255}:[0-9]+"
)


@dataclass(frozen=True)
class Move:
    """One service a release moves, and what it moves it to (an image or a task definition)."""

    key: str
    service: Service
    image: str | None = None
    task_definition: str | None = None


def parse_assignments(values: Iterable[str], option: str) -> dict[str, str]:
    """`KEY=VALUE` options as a dict; a malformed or repeated one is a UsageError."""
    return parse_key_values(
        values,
        malformed=f"{option} '{{pair}}': expected KEY=VALUE",
        repeated=f"{option} {{key}} is given twice",
    )


def plan_moves(
    environment: Environment,
    images: Mapping[str, str],
    task_definitions: Mapping[str, str],
) -> dict[str, Move]:
    """The services the release moves, keyed like shipline.yml; UsageError on bad input.

    `images` maps image keys to references (every service running that image key moves);
    `task_definitions` maps service keys to task definition ARNs.
    """
    if not images and not task_definitions:
        raise UsageError("nothing to deploy: give --image KEY=REF or --task-definition KEY=ARN")
    problems: list[str] = []
    moves: dict[str, Move] = {}
    for image_key, reference in images.items():
        try:
            parse_image_ref(reference)
        except UsageError as exc:
            problems.append(f"--image {image_key}: {exc}")
            continue
        users = environment.services_for_image(image_key)
        if not users:
            known = sorted({svc.image for svc in environment.services.values()})
            problems.append(
                f"--image {image_key}: no service of environment '{environment.name}' runs "
                f"image '{image_key}' (known: {', '.join(known)})"
            )
        for user in users:
            moves[user.key] = Move(user.key, user, image=reference)
    for key, arn in task_definitions.items():
        service = environment.services.get(key)
        if service is None:
            problems.append(
                f"--task-definition {key}: not a service of environment "
                f"'{environment.name}' (known: {', '.join(environment.services)})"
            )
            continue
        if not TASK_DEFINITION_ARN.fullmatch(arn):
            problems.append(f"--task-definition {key}: '{arn}' is not a task definition ARN")
            continue
        if key in moves:
            problems.append(
                f"service '{key}' is named by both --image {service.image}=... and "
                f"--task-definition {key}=...: give one"
            )
            continue
        moves[key] = Move(key, service, task_definition=arn)
    if problems:
        raise UsageError("; ".join(problems))
    return {key: moves[key] for key in environment.services if key in moves}


def service_problems(
    cluster: str, moves: Mapping[str, Move], described: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Every moved service must exist in the cluster and be ACTIVE (described by ECS name)."""
    problems = []
    for move in moves.values():
        name = move.service.service
        found = described.get(name)
        if found is None:
            problems.append(f"service '{name}' ({move.key}) is not in cluster '{cluster}'")
        elif found.get("status") != "ACTIVE":
            problems.append(
                f"service '{name}' ({move.key}) is {found.get('status')}, not ACTIVE, "
                f"in cluster '{cluster}'"
            )
    return problems


def container_problem(task_definition: Mapping[str, Any], container: str) -> str | None:
    names = [c.get("name") for c in task_definition.get("containerDefinitions", [])]
    if container in names:
        return None
    family = task_definition.get("family", "?")
    return (
        f"task definition '{family}' has no container '{container}' "
        f"(it has: {', '.join(str(n) for n in names)})"
    )


def render_task_definition(
    current: Mapping[str, Any],
    container: str,
    image: str,
    tags: list[Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """The RegisterTaskDefinition request for `current` with only `container`'s image replaced.

    `current` is DescribeTaskDefinition's `taskDefinition` (or the whole answer, whose `tags`
    are then kept; a `tags` entry beside the fields is kept too); `tags` overrides them.
    """
    if "taskDefinition" in current:
        tags = tags if tags is not None else current.get("tags")
        current = current["taskDefinition"]
    elif tags is None:
        tags = current.get("tags")
    problem = container_problem(current, container)
    if problem:
        raise UsageError(problem)
    request = {
        name: copy.deepcopy(value)
        for name, value in current.items()
        if name not in READ_ONLY_FIELDS and name != "tags"
    }
    for definition in request["containerDefinitions"]:
        if definition.get("name") == container:
            definition["image"] = image
    if tags:
        request["tags"] = [dict(tag) for tag in tags]
    return request


def container_images(task_definition: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(c.get("name")): str(c.get("image", ""))
        for c in task_definition.get("containerDefinitions", [])
    }


def image_diff(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    mask: Callable[[str], str] = lambda text: text,
) -> list[str]:
    """The image lines that differ between two task definitions, `-` before and `+` after.

    Only images are shown (environment and secrets never are); `mask` hides secret-looking
    values that an image reference might carry.
    """
    old, new = container_images(before), container_images(after)
    lines = []
    for name in sorted(set(old) | set(new)):
        if old.get(name) == new.get(name):
            continue
        if name in old:
            lines.append(f"-  {name}: image {mask(old[name])}")
        if name in new:
            lines.append(f"+  {name}: image {mask(new[name])}")
    return lines


def image_of(task_definition: Mapping[str, Any], container: str) -> str | None:
    return container_images(task_definition).get(container)


def migration_applies(environment: Environment, moving: Collection[str], skip: bool) -> bool:
    """A migration runs when the config has one and the service it runs in is moving."""
    return migration_skip_reason(environment, moving, skip) is None


def migration_skip_reason(
    environment: Environment, moving: Collection[str], skip: bool
) -> str | None:
    """Why a release moving the services keyed `moving` runs no migration (said in its summary
    and record); None when it runs one."""
    if environment.migrate is None:
        if environment.migrate_none:
            return "shipline.yml says `migrate: none` for this environment"
        return "shipline.yml has no `migrate` section for this environment"
    if skip:
        return "asked with --no-migrate"
    if environment.migrate.service not in moving:
        return f"service '{environment.migrate.service}', whose new version runs it, is not moving"
    return None
