"""The ECS facts the sandbox imitates (no server)."""

from __future__ import annotations

import random

from shipline.sim.ecs_rules import (
    DeploymentSummary,
    LogDestination,
    awslogs_destination,
    deployment_failed_message,
    health_problems,
    new_deployment_id,
    rolls_back,
    started_tasks_message,
)

TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/agent-saas/0123456789abcdef"


def container(**options: str) -> dict:
    return {"name": "api", "logConfiguration": {"logDriver": "awslogs", "options": options}}


def test_awslogs_stream_is_prefix_container_task_id():
    found = awslogs_destination(
        container(**{"awslogs-group": "/ecs/api", "awslogs-stream-prefix": "api"}),
        TASK_ARN,
        "eu-west-1",
    )
    assert found == LogDestination("eu-west-1", "/ecs/api", "api/api/0123456789abcdef", False)


def test_awslogs_region_and_create_group_options():
    found = awslogs_destination(
        container(
            **{
                "awslogs-group": "/ecs/api",
                "awslogs-region": "us-west-2",
                "awslogs-create-group": "true",
            }
        ),
        TASK_ARN,
        "eu-west-1",
    )
    assert found == LogDestination("us-west-2", "/ecs/api", "0123456789abcdef", True)


def test_containers_without_awslogs_have_no_destination():
    assert awslogs_destination({"name": "api"}, TASK_ARN, "us-east-1") is None
    other = {"name": "api", "logConfiguration": {"logDriver": "json-file"}}
    assert awslogs_destination(other, TASK_ARN, "us-east-1") is None


def test_circuit_breaker_rolls_back_only_when_enabled_with_rollback():
    assert rolls_back({"deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    assert not rolls_back({"deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    assert not rolls_back({"deploymentCircuitBreaker": {"enable": False, "rollback": True}})
    assert not rolls_back(None)


def test_deployment_ids_look_like_ecs():
    found = new_deployment_id(random.Random(7))
    assert found.startswith("ecs-svc/") and len(found) == len("ecs-svc/") + 19


def test_event_texts_follow_ecs():
    assert (
        started_tasks_message("web", ["a", "b"])
        == "(service web) has started 2 tasks: (task a) (task b)."
    )
    assert (
        deployment_failed_message("web", "ecs-svc/1")
        == "(service web) (deployment ecs-svc/1) deployment failed: tasks failed to start."
    )


def test_health_problems():
    done = [DeploymentSummary("ecs-svc/1", "PRIMARY", "COMPLETED")]
    assert health_problems(done, 2, ["api:v1"], False) == []
    assert health_problems(done, 2, ["api:v1"], "api:v2") == []
    assert health_problems(done, 2, ["api:v2"], "api:v2") == [
        "an image contains 'api:v2' (the policy's unhealthy rule)"
    ]
    assert health_problems(done, 2, ["api:v1"], True) == [
        "the sandbox policy marks the service unhealthy"
    ]
    assert health_problems(done, 0, ["api:v1"], False) == ["no running tasks"]
    rolling = [
        DeploymentSummary("ecs-svc/2", "PRIMARY", "IN_PROGRESS"),
        DeploymentSummary("ecs-svc/1", "ACTIVE", "COMPLETED"),
    ]
    assert health_problems(rolling, 4, ["api:v1"], False) == ["deployment ecs-svc/2 is IN_PROGRESS"]
    assert health_problems([], 0, [], False) == [
        "the service has no deployment",
        "no running tasks",
    ]
