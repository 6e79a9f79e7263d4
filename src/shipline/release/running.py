"""What an environment runs now, per image key: the image Terraform must keep when a release
gives none for that key (an empty image input keeps what runs, it never falls back to the
var files' image)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipline.config import Environment


@dataclass
class RunningImages:
    images: dict[str, str] = field(default_factory=dict)  # image key -> reference it runs
    notes: list[str] = field(default_factory=list)  # keys left to the var files, disagreements


def running_images(environment: Environment, ecs: Any) -> RunningImages:
    """Image key -> the image of the configured container in the live task definitions of the
    services using that key (shipline.yml order; the first service found decides when they
    disagree, and that is said). A key no existing service uses is left out (first deploy)."""
    from shipline.aws import describe_services
    from shipline.errors import PreflightError
    from shipline.release import plan

    found = RunningImages()
    try:
        described = describe_services(
            ecs, environment.cluster, [svc.service for svc in environment.services.values()]
        )
    except PreflightError as exc:  # no cluster yet (a first deploy): nothing runs
        found.notes.append(f"{exc.message}: every image is left to the var files")
        return found
    seen: dict[str, tuple[str, str]] = {}  # image key -> (service key, image)
    definitions: dict[str, dict[str, Any]] = {}
    for key, service in environment.services.items():
        description = described.get(service.service)
        if description is None or description.get("status") != "ACTIVE":
            continue
        arn = description["taskDefinition"]
        if arn not in definitions:
            definitions[arn] = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        image = plan.image_of(definitions[arn], service.container)
        if image is None:
            found.notes.append(f"{key}: its task definition has no container {service.container}")
            continue
        if service.image in seen:
            first_key, first_image = seen[service.image]
            if image != first_image:
                found.notes.append(
                    f"image {service.image}: {key} runs {image}, {first_key} runs {first_image}; "
                    f"keeping {first_key}'s"
                )
            continue
        seen[service.image] = (key, image)
        found.images[service.image] = image
    for image_key in dict.fromkeys(svc.image for svc in environment.services.values()):
        if image_key not in found.images:
            found.notes.append(
                f"image {image_key}: no service runs it yet (first deploy): the var files' "
                "image stands"
            )
    return found
