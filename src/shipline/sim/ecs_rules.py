"""Pure ECS facts the sandbox imitates: event texts, awslogs streams, circuit breaker, health.

Nothing here touches moto; the scheduler applies these decisions to moto's objects.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shipline.sim.policy import Match, matches

SERVICE_GROUP_PREFIX = "service:"
MAX_EVENTS = 100  # ECS keeps the 100 newest service events

DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}

ESSENTIAL_EXITED = "Essential container in task exited"
MISSING_LOG_GROUP = (
    "ResourceInitializationError: failed to validate logger args: create stream has been "
    "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
    "The specified log group does not exist. : exit status 1"
)


def new_deployment_id(rng: random.Random | None = None) -> str:
    """`ecs-svc/` and 19 digits, like ECS."""
    return f"ecs-svc/{(rng or random).randrange(10**18, 10**19)}"


def task_id(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def service_group(service_name: str) -> str:
    return SERVICE_GROUP_PREFIX + service_name


def _tasks_text(task_ids: Sequence[str]) -> str:
    return " ".join(f"(task {tid})" for tid in task_ids)


def started_tasks_message(service: str, task_ids: Sequence[str]) -> str:
    return f"(service {service}) has started {len(task_ids)} tasks: {_tasks_text(task_ids)}."


def stopped_tasks_message(service: str, task_ids: Sequence[str]) -> str:
    count = len(task_ids)
    return f"(service {service}) has stopped {count} running tasks: {_tasks_text(task_ids)}."


def registered_targets_message(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) registered {count} targets in (target-group {target_group_arn})"


def deregistered_targets_message(service: str, count: int, target_group_arn: str) -> str:
    return f"(service {service}) deregistered {count} targets in (target-group {target_group_arn})"


def deployment_completed_message(service: str, deployment_id: str) -> str:
    return f"(service {service}) (deployment {deployment_id}) deployment completed."


def steady_state_message(service: str) -> str:
    return f"(service {service}) has reached a steady state."


def deployment_failed_message(service: str, deployment_id: str) -> str:
    return (
        f"(service {service}) (deployment {deployment_id}) deployment failed: "
        "tasks failed to start."
    )


def rolling_back_message(service: str, deployment_id: str) -> str:
    return f"(service {service}) rolling back to deployment {deployment_id}."


def scaling_reason(deployment_id: str) -> str:
    """stoppedReason of a task the scheduler stops for a newer deployment or a scale-in."""
    return f"Scaling activity initiated by (deployment {deployment_id})"


def rolls_back(deployment_configuration: Mapping[str, Any] | None) -> bool:
    """Whether the deployment circuit breaker is on and rolls back."""
    breaker = (deployment_configuration or {}).get("deploymentCircuitBreaker") or {}
    return bool(breaker.get("enable")) and bool(breaker.get("rollback"))


@dataclass(frozen=True)
class LogDestination:
    region: str
    group: str
    stream: str
    create_group: bool


def awslogs_destination(
    container: Mapping[str, Any], task_arn: str, default_region: str
) -> LogDestination | None:
    """Where ECS's awslogs driver writes a container's output: `<prefix>/<container>/<task id>`."""
    config = container.get("logConfiguration") or {}
    if config.get("logDriver") != "awslogs":
        return None
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if not group:
        return None
    prefix = options.get("awslogs-stream-prefix")
    tid = task_id(task_arn)
    stream = f"{prefix}/{container.get('name')}/{tid}" if prefix else tid
    return LogDestination(
        region=options.get("awslogs-region") or default_region,
        group=group,
        stream=stream,
        create_group=str(options.get("awslogs-create-group", "")).lower() == "true",
    )


def container_images(container_definitions: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(c.get("image", "")) for c in container_definitions]


@dataclass(frozen=True)
class DeploymentSummary:
    id: str
    status: str
    rollout_state: str


def health_problems(
    deployments: Sequence[DeploymentSummary],
    running_count: int,
    images: Sequence[str],
    unhealthy: Match,
) -> list[str]:
    """Why a service's health endpoint would fail; empty when it answers 200."""
    problems = []
    primary = next((d for d in deployments if d.status == "PRIMARY"), None)
    if primary is None:
        problems.append("the service has no deployment")
    elif primary.rollout_state != "COMPLETED":
        problems.append(f"deployment {primary.id} is {primary.rollout_state}")
    elif len(deployments) > 1:
        problems.append(f"{len(deployments) - 1} older deployment(s) still draining")
    if running_count == 0:
        problems.append("no running tasks")
    if matches(unhealthy, images):
        if unhealthy is True:
            problems.append("the sandbox policy marks the service unhealthy")
        else:
            problems.append(f"an image contains {unhealthy!r} (the policy's unhealthy rule)")
    return problems
