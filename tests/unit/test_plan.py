"""The deploy plan: which services move, the rendered task definition, the dry-run diff."""

from __future__ import annotations

import copy

import pytest

from shipline.config import Environment, HealthSettings, Migrate, Service, Wait
from shipline.errors import UsageError
from shipline.release import plan

ARN = "arn:aws:ecs:us-east-1:123456789012:task-definition/agent-saas-api:7"


def environment(migrate: bool = True) -> Environment:
    services = {
        "api": Service("api", "agent-saas-api", "api", "api", "http://x/health/ready", "api"),
        "web": Service("web", "agent-saas-web", "web", "web", "http://x/api/health/ready", "web"),
        "worker": Service("worker", "agent-saas-worker", "api", "api", None, "worker"),
    }
    return Environment(
        name="sim",
        region="us-east-1",
        cluster="agent-saas",
        history="s3://releases/shipline",
        services=services,
        migrate=Migrate("api", "api", ("just", "migrate"), 60.0) if migrate else None,
        wait=Wait(timeout=60, poll=0.1),
        health=HealthSettings(timeout=5, interval=0.1, successes=2, request_timeout=1),
        rollback="auto",
    )


LIVE = {
    "taskDefinitionArn": ARN,
    "family": "agent-saas-api",
    "revision": 7,
    "status": "ACTIVE",
    "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
    "compatibilities": ["EC2", "FARGATE"],
    "registeredAt": "2026-11-26T07:00:00Z",
    "registeredBy": "arn:aws:iam::123456789012:role/deployer",
    "deregisteredAt": None,
    "requiresCompatibilities": ["FARGATE"],
    "networkMode": "awsvpc",
    "cpu": "512",
    "memory": "1024",
    "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
    "containerDefinitions": [
        {
            "name": "api",
            "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v1",
            "environment": [{"name": "ENVIRONMENT", "value": "production"}],
            "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn:aws:secretsmanager:x"}],
        },
        {"name": "sidecar", "image": "public.ecr.aws/aws-observability/otel:v0.40"},
    ],
}
TAGS = [{"key": "team", "value": "platform"}]


def test_render_replaces_only_the_configured_containers_image_and_strips_read_only_fields():
    live = copy.deepcopy(LIVE)
    rendered = plan.render_task_definition(live, "api", "ghcr.io/acme/api:v2")
    for name in plan.READ_ONLY_FIELDS:
        assert name not in rendered
    assert rendered["containerDefinitions"][0]["image"] == "ghcr.io/acme/api:v2"
    assert rendered["containerDefinitions"][1] == LIVE["containerDefinitions"][1]
    expected = {k: v for k, v in LIVE.items() if k not in plan.READ_ONLY_FIELDS}
    expected["containerDefinitions"] = copy.deepcopy(LIVE["containerDefinitions"])
    expected["containerDefinitions"][0]["image"] = "ghcr.io/acme/api:v2"
    assert rendered == expected
    assert live == LIVE, "the described task definition must not be changed"


def test_render_keeps_the_tags_of_a_whole_describe_answer():
    rendered = plan.render_task_definition(
        {"taskDefinition": LIVE, "tags": TAGS}, "api", "ghcr.io/acme/api:v2"
    )
    assert rendered["tags"] == TAGS
    assert "tags" not in plan.render_task_definition(LIVE, "api", "ghcr.io/acme/api:v2")
    beside = plan.render_task_definition({**LIVE, "tags": TAGS}, "api", "ghcr.io/acme/api:v2")
    assert beside["tags"] == TAGS
    empty = plan.render_task_definition({**LIVE, "tags": []}, "api", "ghcr.io/acme/api:v2")
    assert "tags" not in empty, "RegisterTaskDefinition gets no empty tag list"


def test_render_refuses_a_container_the_task_definition_does_not_have():
    with pytest.raises(UsageError, match="has no container 'web'"):
        plan.render_task_definition(LIVE, "web", "ghcr.io/acme/web:v2")


def test_image_key_moves_every_service_running_that_image():
    moves = plan.plan_moves(environment(), {"api": "ghcr.io/acme/api:v2"}, {})
    assert list(moves) == ["api", "worker"]
    assert {m.image for m in moves.values()} == {"ghcr.io/acme/api:v2"}


def test_task_definition_moves_one_service_to_a_given_arn():
    moves = plan.plan_moves(environment(), {"web": "ghcr.io/acme/web:v2"}, {"api": ARN})
    assert moves["api"].task_definition == ARN and moves["api"].image is None
    assert moves["web"].image == "ghcr.io/acme/web:v2"
    assert "worker" not in moves


@pytest.mark.parametrize(
    ("images", "task_definitions", "reason"),
    [
        ({}, {}, "nothing to deploy"),
        ({"billing": "ghcr.io/acme/billing:v1"}, {}, "no service of environment 'sim' runs image"),
        ({"api": "ghcr.io/Acme/api:v1"}, {}, "malformed image reference"),
        ({}, {"db": ARN}, "not a service of environment 'sim'"),
        ({}, {"api": "agent-saas-api:7"}, "is not a task definition ARN"),
        ({"api": "ghcr.io/acme/api:v2"}, {"worker": ARN}, "give one"),
    ],
)
def test_bad_moves_are_refused_with_a_reason(images, task_definitions, reason):
    with pytest.raises(UsageError, match=reason) as caught:
        plan.plan_moves(environment(), images, task_definitions)
    assert caught.value.exit_code == 2


def test_assignments_parse_and_refuse_repeats_and_malformed():
    assert plan.parse_assignments(["api=a:1", "web=b@x=y"], "--image") == {
        "api": "a:1",
        "web": "b@x=y",
    }
    with pytest.raises(UsageError, match="given twice"):
        plan.parse_assignments(["api=a:1", "api=a:2"], "--image")
    with pytest.raises(UsageError, match="expected KEY=VALUE"):
        plan.parse_assignments(["api"], "--image")


def test_service_problems_name_missing_and_inactive_services():
    moves = plan.plan_moves(environment(), {"api": "a:1", "web": "w:1"}, {})
    described = {
        "agent-saas-api": {"status": "ACTIVE"},
        "agent-saas-worker": {"status": "DRAINING"},
    }
    problems = plan.service_problems("agent-saas", moves, described)
    assert problems == [
        "service 'agent-saas-web' (web) is not in cluster 'agent-saas'",
        "service 'agent-saas-worker' (worker) is DRAINING, not ACTIVE, in cluster 'agent-saas'",
    ]


def test_image_diff_shows_image_lines_only_and_masks_secrets():
    after = plan.render_task_definition(LIVE, "api", "ghcr.io/acme/api:v2")
    after["containerDefinitions"][0]["environment"] = [{"name": "X", "value": "changed"}]
    assert plan.image_diff(LIVE, after) == [
        "-  api: image 123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v1",
        "+  api: image ghcr.io/acme/api:v2",
    ]
    leaky = plan.render_task_definition(LIVE, "api", "ghcr.io/acme/api:ghp_" + "a" * 30)
    lines = plan.image_diff(LIVE, leaky, mask=lambda text: text.replace("ghp_" + "a" * 30, "***"))
    assert lines[-1] == "+  api: image ghcr.io/acme/api:***"
    assert plan.image_diff(LIVE, LIVE) == []


def test_migration_runs_only_when_configured_and_its_service_moves():
    env = environment()
    api = plan.plan_moves(env, {"api": "a:1"}, {})
    web = plan.plan_moves(env, {"web": "w:1"}, {})
    assert plan.migration_applies(env, api, skip=False)
    assert not plan.migration_applies(env, api, skip=True)
    assert not plan.migration_applies(env, web, skip=False)
    assert not plan.migration_applies(environment(migrate=False), api, skip=False)
